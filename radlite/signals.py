"""The signal registry: the one place that names each ranking signal.

Every other module asks here for a signal's name (used unchanged in code, manifest, JSON,
CLI flags and the search page), its stage, the model kind that encodes it (radlite.models),
the folder of its index part, and the label people read. To add a first-stage signal: add it
here, add its retriever in radlite.retrievers, and teach the backends to hold it.
"""

from __future__ import annotations

from dataclasses import dataclass

BM25 = "bm25"
BIENCODER = "biencoder"
COLBERT = "colbert"
CROSSENCODER = "crossencoder"


@dataclass(frozen=True)
class Signal:
    name: str  # the one name: code, manifest, JSON ("<name>_score", "signals": {name: ...}), CLI, page
    label: str  # what people read (tables, the page, plots)
    stage: str  # "first": retrieves and scores passages from an index part; "rerank": scores candidates
    model: str | None  # the radlite.models kind that encodes it; None for BM25 (no model)
    part: str | None  # its folder in a local index generation; None for the reranker (no index)


REGISTRY: dict[str, Signal] = {
    BM25: Signal(BM25, "BM25", "first", None, "bm25"),
    BIENCODER: Signal(BIENCODER, "bi-encoder", "first", "biencoder", "biencoder"),
    COLBERT: Signal(COLBERT, "ColBERT", "first", "colbert", "colbert"),
    CROSSENCODER: Signal(CROSSENCODER, "cross-encoder", "rerank", "crossencoder", None),
}

SIGNALS: tuple[str, ...] = tuple(REGISTRY)
FIRST_STAGE: tuple[str, ...] = tuple(s.name for s in REGISTRY.values() if s.stage == "first")
ENCODED: tuple[str, ...] = tuple(s.name for s in REGISTRY.values() if s.stage == "first" and s.model)  # need a model
MODEL_KINDS: tuple[str, ...] = tuple(s.model for s in REGISTRY.values() if s.model)


def signal(name: str) -> Signal:
    """The registry entry of `name`.

    Raises:
        KeyError: not a signal radlite knows.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown signal {name!r}; radlite knows {', '.join(SIGNALS)}") from None


def label(name: str) -> str:
    """The label people read for a signal, or the name itself for a non-signal (e.g. 'fused')."""
    return REGISTRY[name].label if name in REGISTRY else name
