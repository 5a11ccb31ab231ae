"""Calibrate a cross-encoder's logit so that sigmoid(logit / T) is a probability of relevance.

A listwise-trained cross-encoder orders passages but its logits have no fixed scale or offset
(softmax over a list ignores both), so a fusion that reads sigmoid(logit / T) would get numbers
that say nothing. Platt scaling fits p = sigmoid(a * logit + b) on judged (query, passage) pairs
— here the dev split's first-stage candidates, relevant = judged grade >= 1 — and the fit is folded
into the model's one-logit head (weight * a * T, bias * a * T + b * T), so the shipped model's
logit divided by the fusion temperature T is that probability, on every path (PyTorch and ONNX).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from radlite.errors import ModelError
from radlite.signals import COLBERT


def fit_platt(logits: Sequence[float], labels: Sequence[int], iters: int = 100) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * logit + b) against 0/1 labels (Newton's method,
    with Platt's target smoothing so a separable set keeps a finite slope)."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("need as many labels as logits, and at least one")
    pos, neg = y.sum(), len(y) - y.sum()
    if pos == 0 or neg == 0:
        raise ValueError("calibration needs both relevant and non-relevant pairs")
    t = np.where(y > 0, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([np.sum((p - t) * x), np.sum(p - t)])
        w = p * (1 - p) + 1e-12
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def fold_into_head(folder: Path, a: float, b: float, temperature: float) -> None:
    """Rewrite the saved one-logit head so that logit_new / temperature = a * logit_old + b."""
    from safetensors.torch import load_file, save_file

    path = Path(folder) / "model.safetensors"
    tensors = load_file(str(path))
    weight = [k for k in tensors if k.endswith("classifier.weight")]
    bias = [k for k in tensors if k.endswith("classifier.bias")]
    if len(weight) != 1 or len(bias) != 1 or tensors[weight[0]].shape[0] != 1:
        raise ModelError(f"{folder}: no one-logit classifier head to calibrate")
    tensors[weight[0]] = tensors[weight[0]] * (a * temperature)
    tensors[bias[0]] = tensors[bias[0]] * (a * temperature) + b * temperature
    save_file(tensors, str(path), metadata={"format": "pt"})
    marker = Path(folder) / "radlite_model.json"
    info = json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
    info["calibration"] = {
        "method": "platt",
        "a": a,
        "b": b,
        "temperature": temperature,
        "meaning": "sigmoid(logit / temperature) = probability that the passage is judged relevant",
    }
    marker.write_text(json.dumps(info, indent=2), encoding="utf-8")


def dev_pairs(dataset: str = "radbench9", split: str = "dev", candidates: int = 50, engine=None):
    """(query, passage text, relevant) for every first-stage (ColBERT) candidate of the split's queries."""
    from radlite.eval.datasets import load_dataset
    from radlite.search.engine import RadLITESearch

    data = load_dataset(dataset, split)
    engine = engine or RadLITESearch(reranker=None).index_corpus(data.corpus)
    index = engine.index
    out = []
    for q in data.queries:
        judged = data.qrels.get(q.id, {})
        for h in engine.search(q.text, top_k=candidates, candidates=candidates, signals=[COLBERT]):
            pid = int(index.doc_passages(np.array([h["corpus_index"]]))[0]) + h["passage_index"]
            out.append((q.text, index.encoder_input(pid), int(judged.get(h["id"], 0) >= 1)))
    return out
