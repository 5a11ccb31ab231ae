"""Rerank the hits of an Elasticsearch or OpenSearch query with radlite's cross-encoder.

    from radlite.integrations.elastic import rerank_hits
    resp = es.search(index="articles", query={"match": {"content": q}}, size=50)
    hits = rerank_hits(q, resp["hits"]["hits"], text_field="content")

Each returned hit is the original hit (every field kept) plus `rerank_logit` (the cross-encoder's
raw logit), `rerank_score` (its calibrated probability, sigmoid(logit / temperature)) and
`combined_score` = w_search * min-max normalised `_score` + w_rerank * `rerank_score`
(the seed card's 0.3 / 0.7 by default), ordered by `combined_score`.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Mapping, Sequence

import numpy as np

from radlite.errors import QueryError, RadliteError
from radlite.search import fusion
from radlite.signals import CROSSENCODER

DEFAULT_WEIGHTS = (0.3, 0.7)  # (search engine's _score, calibrated rerank score), as in the seed card
DEFAULT_TEMPERATURE = 1.5  # the published calibration: cross-encoder logits / 1.5
_rerankers: dict[tuple[str, bool], Any] = {}
_lock = threading.Lock()


def rerank_hits(
    query: str,
    hits: Sequence[Mapping[str, Any]],
    text_field: str = "content",
    reranker: Any = "default",
    weights: tuple[float, float] = DEFAULT_WEIGHTS,
    temperature: float = DEFAULT_TEMPERATURE,
    title_field: str | None = None,
    top_k: int | None = None,
    exact: bool = False,
) -> list[dict[str, Any]]:
    """`hits`: the `hits.hits` list of a search response. `text_field` may be dotted
    ("body.text") and is read from `_source`, else from `fields` (stored / docvalue fields).
    `reranker`: a model name or folder ("default": radlite's) or a CrossEncoderReranker."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("empty query: give the query the hits were retrieved for")
    if isinstance(hits, Mapping):  # the whole response, or its "hits" object, was passed
        hits = hits.get("hits", {}).get("hits", []) if "took" in hits or "_shards" in hits else hits.get("hits", [])
    if not isinstance(hits, Sequence) or any(not isinstance(h, Mapping) for h in hits):
        raise RadliteError("hits must be the `hits.hits` list of an Elasticsearch/OpenSearch response")
    w_search, w_rerank = _check_weights(weights)
    if temperature <= 0:
        raise QueryError("temperature must be positive")
    if not hits:
        return []
    texts = [_hit_text(h, text_field, title_field) for h in hits]
    model = _reranker(reranker, exact)
    logits = model.score(query.strip(), texts)
    calibrated = fusion.calibrate(logits, temperature)
    search_scores = np.array([np.nan if h.get("_score") is None else float(h["_score"]) for h in hits])
    normalised = np.nan_to_num(fusion.minmax(search_scores), nan=0.0)
    combined = w_search * normalised + w_rerank * calibrated
    order = np.argsort(-combined, kind="stable")
    out = []
    for i in order[: top_k or len(hits)]:
        hit = copy.deepcopy(dict(hits[i]))
        hit.update(
            {
                "rerank_logit": float(logits[i]),
                "rerank_score": float(calibrated[i]),
                "search_score_normalized": float(normalised[i]),
                "combined_score": float(combined[i]),
            }
        )
        out.append(hit)
    return out


def search_and_rerank(
    url: str,
    index: str,
    query: str,
    engine: str = "elasticsearch",
    size: int = 50,
    text_field: str = "content",
    api_key: str | None = None,
    user: str | None = None,
    password: str | None = None,
    verify_certs: bool = True,
    **rerank,
) -> dict[str, Any]:
    """Run a BM25 `match` query on `text_field` with the official client, then `rerank_hits`."""
    body = {"query": {"match": {text_field: query}}, "size": size}
    if engine == "elasticsearch":
        try:
            from elasticsearch import Elasticsearch
        except ImportError:
            raise RadliteError("needs the elasticsearch client: pip install 'radlite[elastic]'") from None
        auth = {"api_key": api_key} if api_key else ({"basic_auth": (user, password or "")} if user else {})
        client = Elasticsearch(url, verify_certs=verify_certs, **auth)
        call = lambda: client.search(index=index, query=body["query"], size=size).body  # noqa: E731
    elif engine == "opensearch":
        try:
            from opensearchpy import OpenSearch
        except ImportError:
            raise RadliteError("needs the opensearch-py client: pip install 'radlite[elastic]'") from None
        auth = {"http_auth": (user, password or "")} if user else {}
        client = OpenSearch(hosts=[url], verify_certs=verify_certs, **auth)
        call = lambda: client.search(index=index, body=body)  # noqa: E731
    else:
        raise RadliteError(f"unknown engine {engine!r}; use 'elasticsearch' or 'opensearch'")
    try:
        response = call()
    except Exception as exc:  # connection refused, auth, missing index: say which, without a traceback
        raise RadliteError(f"{engine} search on {url} index {index!r} failed: {type(exc).__name__}: {exc}") from None
    hits = response.get("hits", {}).get("hits", [])
    return {
        "query": query,
        "took_ms": response.get("took"),
        "total": response.get("hits", {}).get("total"),
        "hits": rerank_hits(query, hits, text_field=text_field, **rerank),
    }


def _hit_text(hit: Mapping[str, Any], field: str, title_field: str | None) -> str:
    text = _field(hit, field)
    if not isinstance(text, str) or not text.strip():
        raise RadliteError(
            f"hit {hit.get('_id', '?')!r} has no text in field {field!r} (looked in _source and "
            f"fields); pass text_field= the field that holds the document text"
        )
    title = _field(hit, title_field) if title_field else None
    return f"{title}. {text}" if isinstance(title, str) and title.strip() else text


def _field(hit: Mapping[str, Any], field: str):
    value: Any = hit.get("_source") or {}
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        value = (hit.get("fields") or {}).get(field)
    if isinstance(value, list):  # `fields` values, and multi-valued text fields
        value = " ".join(str(v) for v in value if v is not None)
    return value


def _check_weights(weights) -> tuple[float, float]:
    try:
        a, b = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise QueryError("weights must be two numbers: (search engine score, rerank score)") from None
    if a < 0 or b < 0 or a + b == 0 or not np.isfinite([a, b]).all():
        raise QueryError("weights must be >= 0 and not both 0")
    return a, b


def _reranker(reranker: Any, exact: bool):
    if not isinstance(reranker, str):
        return reranker  # a CrossEncoderReranker (or anything with .score(query, texts))
    with _lock:
        if (reranker, exact) not in _rerankers:
            from radlite.models import CrossEncoderReranker, resolve_model

            m = resolve_model(CROSSENCODER, reranker)
            _rerankers[(reranker, exact)] = CrossEncoderReranker(m.path, fast=not exact, sha256=m.sha256)
        return _rerankers[(reranker, exact)]
