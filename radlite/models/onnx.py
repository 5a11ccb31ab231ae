"""The fast CPU paths: ONNX Runtime exports of the cross-encoder (int8, length-sorted batches) and
of the query encoders.

The model is exported once from its sentence-transformers folder with `torch.onnx.export`, its
matrix weights quantised to int8 per output channel (`onnxruntime.quantization.quantize_dynamic`;
activations are quantised on the fly), and cached in `$RADLITE_HOME/onnx/` under the weights'
SHA-256, so a changed model is exported again. Pairs are tokenised exactly as
`CrossEncoder.predict` does (same tokenizer, `truncation=True`, the same max_length), sorted by
length and run in small batches, so padding costs little.

Measured on the 2-core machine (benchmarks/speed.md): 2.4x the pairs/s of
`CrossEncoder.predict`, Spearman >= 0.98 against the fp32 logits. `exact=True` on the engine
(`--exact` on the command line) uses the PyTorch model instead.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from radlite.errors import ModelError
from radlite.fsutil import replace_folder, sha256_file
from radlite.signals import BIENCODER, COLBERT, CROSSENCODER

logger = logging.getLogger(__name__)

FORMAT = 1  # bump when the exported graph or its quantisation changes


def export(kind: str, path: Path, sha256: str, quantize: bool, home: Path | None = None, model=None) -> Path:
    """Export `kind` (crossencoder: logits; biencoder: sentence embeddings; colbert: projected token
    embeddings) once into $RADLITE_HOME/onnx/<kind>-<sha>-<int8|fp32>-v<FORMAT>/model.onnx."""
    from radlite.models.resolve import radlite_home

    precision = "int8" if quantize else "fp32"
    target = (home or radlite_home()) / "onnx" / f"{kind}-{sha256[:16]}-{precision}-v{FORMAT}"
    if (target / "model.onnx").is_file():
        state = _intact(target)
        if state:
            return target
        if state is None:
            logger.info("the cached fast path %s has no checksum (an older radlite wrote it); rebuilding it", target)
        else:
            logger.warning("the cached fast path %s is damaged (its checksum does not match); rebuilding it", target)
        shutil.rmtree(target, ignore_errors=True)
    with _EXPORT_LOCK:  # torch.onnx.export is not thread-safe (the two query encoders start together)
        return _export_once(kind, path, sha256, quantize, target, precision, model)


def _intact(target: Path) -> bool | None:
    """Whether the cached export's model.onnx still has the sha256 its marker recorded (None: the
    marker has no checksum, written before radlite kept one)."""
    try:
        marker = json.loads((target / "radlite_onnx.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or "model_sha256" not in marker:
        return None
    return sha256_file(target / "model.onnx") == marker["model_sha256"]


_EXPORT_LOCK = threading.Lock()


def _export_once(kind: str, path: Path, sha256: str, quantize: bool, target: Path, precision: str, model) -> Path:
    if (target / "model.onnx").is_file():  # exported by another thread meanwhile
        return target
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError(
            "the fast path needs onnxruntime (pip install onnxruntime); or run the exact PyTorch models", param="exact"
        ) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tmp = holder / "model"
        tmp.mkdir()
        # once per model and machine, and it takes a while: say so even when logging is quiet
        print(
            f"radlite: preparing the fast {kind} ({precision} ONNX export of {Path(path).name}, once)...",
            file=sys.stderr,
            flush=True,
        )
        names = _export(kind, path, tmp / "fp32.onnx", model)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(tmp / "fp32.onnx"), str(tmp / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True
            )
            (tmp / "fp32.onnx").unlink()
        else:
            (tmp / "fp32.onnx").rename(tmp / "model.onnx")
        (tmp / "radlite_onnx.json").write_text(
            json.dumps(
                {
                    "kind": kind,
                    "source": str(path),
                    "sha256": sha256,
                    "quantization": precision,
                    "inputs": names,
                    "format": FORMAT,
                    "model_sha256": sha256_file(tmp / "model.onnx"),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        if not (target / "model.onnx").is_file():  # another process may have finished first
            replace_folder(tmp, target)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return target


def _export(kind: str, path: Path, dest: Path, model=None) -> list[str]:
    import torch

    if kind == CROSSENCODER:
        from sentence_transformers import CrossEncoder

        ce = model or CrossEncoder(str(path), device="cpu")
        enc = ce.tokenizer([("a query", "a passage to score")] * 2, padding=True, return_tensors="pt")
        inner, output = ce.model.eval(), "logits"
    else:  # a sentence-transformers / PyLate model: modules take and return a features dict
        if model is None:
            raise ModelError(f"exporting a {kind} model needs the loaded model")
        enc = model.tokenize(["a query", "a longer passage to encode"])
        inner, output = model.eval(), "sentence_embedding" if kind == BIENCODER else "token_embeddings"
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            feats = dict(zip(names, tensors))
            if kind == CROSSENCODER:
                return self.inner(**feats).logits
            return self.inner(feats)[output]

    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["output"] = {0: "batch"} if kind != COLBERT else {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapped(),
            tuple(enc[n] for n in names),
            str(dest),
            input_names=names,
            output_names=["output"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return names


def session(folder: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between runs: spinning ORT threads slowed the numpy stages after them
    # (ColBERT's search about halved when they stopped spinning: benchmarks/speed.md)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])


class OnnxQueryEncoder:
    """A query encoder's forward pass in ONNX Runtime; tokenisation stays the library model's own
    (`model.tokenize`, with PyLate's [Q] prefix and mask expansion), so inputs are identical."""

    def __init__(self, kind: str, model, path: Path, sha256: str, quantize: bool = False):
        self.kind = kind
        self.model = model
        self.session = session(export(kind, Path(path), sha256, quantize, model=model))
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, text: str) -> np.ndarray:
        if self.kind == COLBERT:
            feats = self.model.tokenize([text], is_query=True)
        else:
            feats = self.model.tokenize([text])
        out = self.session.run(None, {n: feats[n].numpy().astype(np.int64) for n in self.inputs})[0][0]
        norm = np.linalg.norm(out, axis=-1, keepdims=True)
        return (out / np.maximum(norm, 1e-12)).astype(np.float32)


class OnnxCrossEncoder:
    """Logits of (query, text) pairs from the exported model; same tokenisation as CrossEncoder.predict."""

    def __init__(
        self,
        path: Path,
        sha256: str,
        quantize: bool = True,
        max_length: int = 512,
        batch_size: int = 8,
        threads: int | None = None,
    ):
        from transformers import AutoTokenizer

        folder = export(CROSSENCODER, Path(path), sha256, quantize)
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.max_length = max_length
        # int8 activations are quantised with one scale per run, so a pair's logit would depend on the pairs (and the
        # padding) beside it in a batch, by up to ~0.1 logit: one pair per run makes it the pair's own, and took the
        # same time for 50 radbench9 pairs on 2 AVX2 cores (1.97 s either way)
        self.batch_size = 1 if quantize else batch_size
        self.session = session(folder, threads)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.folder = folder
        self.quantize = quantize

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        enc = self.tokenizer([q for q, _ in pairs], [t for _, t in pairs], truncation=True, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in enc["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # similar lengths share a batch: little padding
        out = np.empty(len(pairs), dtype=np.float32)
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in enc.keys()}, return_tensors="np")
            feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
            out[idx] = self.session.run(None, feeds)[0].reshape(-1)
        return out
