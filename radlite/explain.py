"""Why a document matched a query: the ColBERT MaxSim alignment and the BM25 terms, as character
spans of the text the models read (the passage, after the title when titles are indexed)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from radlite.errors import QueryError
from radlite.index.bm25 import tokenize

class UnknownDocument(LookupError):
    """No document with that id in the index."""


_WORD = re.compile(r"[^\s,;:()\[\]{}\"'!?]+")


def explain(engine, query: str, doc_id: str, passage_index: int | None = None) -> dict[str, Any]:
    """Explanation of one document's passage for `query`: by default the passage ColBERT (or,
    without ColBERT, BM25) scores highest; `passage_index` picks one (0 = the document's first)."""
    index = engine._require_index()  # one snapshot, as in search
    query = engine._check_query(query, 1, 1)
    position = next((i for i, d in enumerate(index.documents) if d.id == doc_id), None)
    if position is None:
        raise UnknownDocument(doc_id)
    pids = index.doc_passages(np.array([position]))
    if passage_index is not None:
        if not 0 <= passage_index < len(pids):
            raise QueryError(f"document {doc_id!r} has {len(pids)} passages; passage_index must be 0-{len(pids) - 1}")
        pid = int(pids[passage_index])
    else:
        pid = _best_passage(engine, index, query, pids)
    text = index.encoder_input(pid)
    doc = index.documents[position]
    start, end = (int(x) for x in index.passages[pid, 1:])
    out: dict[str, Any] = {"id": doc.id, "title": doc.title, "passage_index": int(pid - pids[0]),
                           "passage_span": [start, end], "text": text, "body_offset": len(text) - (end - start)}
    if index.colbert is not None and "colbert" in engine.models:
        out["colbert"] = engine._encoder("colbert").align(query, text)
        out["colbert"]["index_score"] = float(index.colbert.score(engine._encoder("colbert").encode_query(query),
                                                                  np.array([pid]))[0])
    if index.bm25 is not None:
        out["bm25"] = bm25_matches(query, text)
    return out


def bm25_matches(query: str, text: str) -> dict[str, Any]:
    """The query's BM25 terms (after radlite's tokenizer: stemming, stop-words) found in `text`,
    with the character spans of the words that produced them."""
    terms = set(tokenize(query))
    spans, found = [], set()
    for m in _WORD.finditer(text):
        hit = sorted(terms.intersection(tokenize(m.group(0))))
        if hit:
            spans.append({"start": m.start(), "end": m.end(), "terms": hit})
            found.update(hit)
    return {"query_terms": sorted(terms), "matched_terms": sorted(found), "spans": spans}


def _best_passage(engine, index, query: str, pids: np.ndarray) -> int:
    if len(pids) == 1:
        return int(pids[0])
    if index.colbert is not None and "colbert" in engine.models:
        scores = index.colbert.score(engine._encoder("colbert").encode_query(query), pids)
    elif index.bm25 is not None:
        scores = index.bm25.scores(query)[pids]
    else:
        scores = np.asarray(index.dense.embeddings[pids], dtype=np.float32) @ engine._encoder("biencoder").encode_query(query)
    return int(pids[int(np.argmax(scores))])
