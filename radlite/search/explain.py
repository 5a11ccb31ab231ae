"""Why a document matched a query: the ColBERT MaxSim alignment and the BM25 terms, as character
spans of the text the models read (the passage, after the title when titles are indexed)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from radlite.errors import QueryError, UnknownDocument
from radlite.retrievers.bm25 import tokenize
from radlite.search.checks import check_query
from radlite.search.stages import QueryVectors, score_passages
from radlite.signals import BIENCODER, BM25, COLBERT

_WORD = re.compile(r"[^\s,;:()\[\]{}\"'!?]+")


def explain(
    engine, query: str, doc_id: str, passage_index: int | None = None, expand: bool | None = None
) -> dict[str, Any]:
    """Explanation of one document's passage for `query`: by default the passage ColBERT (or,
    without ColBERT, BM25) scores highest; `passage_index` picks one (0 = the document's first). The query is
    read as the search reads it (`expand`: radlite.terms), and `expansions` says how and what of it matched."""
    index = engine.require_index()  # one snapshot, as in search
    query = check_query(query, 1, 1, engine.max_query_chars)
    understood = engine.understand(query, expand, index)
    neural = understood.neural_text if understood is not None else query
    position = index.positions.get(doc_id)
    if position is None:
        raise UnknownDocument(f"no document with id {doc_id!r}")
    pids = index.doc_passages(np.array([position]))
    # the query encoded once, by the signal that explains best: ColBERT, else BM25, else the bi-encoder
    if COLBERT in index.signals and COLBERT in engine.models:
        signal = COLBERT
    else:
        signal = BM25 if BM25 in index.signals else BIENCODER
    q = QueryVectors(query, bm25_terms=understood.bm25_terms if understood is not None else None)
    if signal != BM25:
        setattr(q, signal, engine.encoder(signal).encode_query(neural))
    if passage_index is not None:
        if not 0 <= passage_index < len(pids):
            raise QueryError(f"document {doc_id!r} has {len(pids)} passages; passage_index must be 0-{len(pids) - 1}")
        pid = int(pids[passage_index])
    else:
        pid = int(pids[int(np.argmax(score_passages(index, q, signal, pids)))]) if len(pids) > 1 else int(pids[0])
    text = index.encoder_input(pid)
    doc = index.documents[position]
    start, end = (int(x) for x in index.passages[pid, 1:])
    out: dict[str, Any] = {
        "id": doc.id,
        "title": doc.title,
        "passage_index": int(pid - pids[0]),
        "passage_span": [start, end],
        "text": text,
        "body_offset": len(text) - (end - start),
    }
    if signal == COLBERT:
        out[COLBERT] = engine.encoder(COLBERT).align(neural, text, q.colbert)
        out[COLBERT]["index_score"] = float(score_passages(index, q, COLBERT, np.array([pid]))[0])
    if BM25 in index.signals:
        out[BM25] = bm25_matches(query, text, q.bm25_terms)
    out["expansions"] = (
        None
        if understood is None
        else {"read_as": understood.to_dict(), "matched": understood.matched_in(index.encoder_input(pid))}
    )
    return out


def bm25_matches(query: str, text: str, weighted: dict[str, float] | None = None) -> dict[str, Any]:
    """The query's BM25 terms (after radlite's tokenizer: stemming, stop-words; or the expanded query's
    weighted stems) found in `text`, with the character spans of the words that produced them."""
    terms = set(tokenize(query)) if weighted is None else {t for t, w in weighted.items() if w > 0}
    spans, found = [], set()
    for m in _WORD.finditer(text):
        hit = sorted(terms.intersection(tokenize(m.group(0))))
        if hit:
            spans.append({"start": m.start(), "end": m.end(), "terms": hit})
            found.update(hit)
    return {"query_terms": sorted(terms), "matched_terms": sorted(found), "spans": spans}
