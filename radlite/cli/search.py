"""`radlite search`, `serve`, `rerank-es` and `demo`: query an index, serve it, rerank Elasticsearch hits."""

from __future__ import annotations

import json
import os
import time
from importlib import resources
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from radlite.backends.registry import backend_class
from radlite.cli._common import (
    command,
    err,
    json_text,
    out,
    parse_signals,
    print_notes,
    print_results,
    safe,
    timings,
    understanding_text,
)
from radlite.errors import RadliteError


def register(app: typer.Typer) -> None:
    app.command("search")(search_cmd)
    app.command("serve")(serve_cmd)
    app.command("rerank-es")(rerank_es_cmd)
    app.command("demo")(demo_cmd)


@command
def search_cmd(
    index: Path = typer.Argument(..., help="Index directory."),
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "-k", "--top-k", help="Results to return."),
    candidates: int = typer.Option(
        50, help="Documents fused (the cross-encoder reads them all at a weight above 0, else the results shown)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of results."),
    signals: Optional[str] = typer.Option(
        None, help="Signals to use, e.g. 'bm25' or 'bm25,biencoder,colbert,crossencoder'."
    ),
    method: Optional[str] = typer.Option(None, help="Fusion: 'weighted' (default) or 'rrf'."),
    fusion: Optional[str] = typer.Option(
        None,
        help="A named fusion instead of the index's own: 'seed' (the RadLITE card's weights over min-max) or 'rrf'.",
    ),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder."),
    category: Optional[str] = typer.Option(None, help="Only documents of this category."),
    biencoder: Optional[str] = typer.Option(None, help="Bi-encoder (must be the one that built the index)."),
    colbert_model: Optional[str] = typer.Option(None, help="ColBERT model (must be the one that built the index)."),
    reranker: Optional[str] = typer.Option(None, help="Cross-encoder: hub id or folder (default: the index's)."),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip checking the index files against their checksums."),
    trust_model: List[str] = typer.Option(
        [], "--trust-model", help="A model folder (or a parent) the index may name; it can run code. Repeat."
    ),
    expand: Optional[bool] = typer.Option(
        None,
        "--expand/--no-expand",
        help="Read the query with radlite's lexicon (abbreviations, synonyms, negation) or as typed "
        "(default: what the index says).",
    ),
):
    """Search an index and show each result with every signal's score."""
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch.load(
        index,
        biencoder=biencoder,
        colbert=colbert_model,
        reranker=reranker,
        use_reranker=not no_rerank,
        exact=exact,
        verify=not no_verify,
        trust_models=trust_model,
    )
    from radlite.config import fusion_preset

    preset = fusion_preset(fusion) if fusion else {}
    run = engine.search_run(
        query,
        top_k=k,
        candidates=candidates,
        signals=parse_signals(signals),
        category=category,
        expand=expand,
        **{**preset, **({"method": method} if method else {})},
    )
    results = run.results
    if as_json:
        out.print_json(json_text([r.to_dict() for r in results], ensure_ascii=False))
    else:
        if run.expansion is not None and run.expansion.changed:
            err.print(f"read as: {safe(understanding_text(run.expansion))}", highlight=False)
        print_results(query, results, confident=engine.confident(results))
        err.print(timings(run.timings))
    print_notes(engine)


@command
def serve_cmd(
    index: Path = typer.Argument(..., help="Index directory."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="Worker processes, each with its own models and index."),
    allow_writes: bool = typer.Option(
        False, "--allow-writes", help="Enable POST /documents and DELETE /documents/{id}."
    ),
    max_query_chars: int = typer.Option(2000, min=1, help="Longest query accepted (characters)."),
    background_over: int = typer.Option(
        64, min=0, help="Writes of more passages than this run as background jobs (202, GET /jobs/{id})."
    ),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip checking the index files against their checksums."),
    trust_model: List[str] = typer.Option(
        [], "--trust-model", help="A model folder (or a parent) the index may name; it can run code. Repeat."
    ),
    token: Optional[str] = typer.Option(
        None,
        envvar="RADLITE_TOKEN",
        help="API token (16+ characters) required for writes (and reads with --auth-reads).",
    ),
    auth_reads: bool = typer.Option(False, "--auth-reads", help="Require the token for searches too."),
    allowed_host: List[str] = typer.Option(
        [], "--allowed-host", help="Host names clients may use (default: the bind address and localhost). Repeat."
    ),
    access_log: bool = typer.Option(True, help="One line per request on stderr (no query text)."),
    log_queries: bool = typer.Option(False, "--log-queries", help="Put the query text in the access log."),
    feedback: bool = typer.Option(
        True, help="Accept relevance marks (POST /feedback, the page's buttons), kept in INDEX/feedback.jsonl."
    ),
):
    """Serve the HTTP API (OpenAPI schema at /openapi.json) and the search page at /."""
    import uvicorn

    from radlite.index import read_manifest
    from radlite.serve.app import ENV, TOKEN_ENV, ServeConfig, default_hosts

    manifest = read_manifest(index)  # a clear error now rather than in every worker
    if not no_verify and "files" in manifest:
        from radlite.index.integrity import verify_files
        from radlite.index.store import live_generation

        verify_files(live_generation(index), manifest["files"], index)
    backend = manifest.get("backend") or {"kind": "local"}
    if workers > 1 and backend_class(backend).single_process(backend):
        raise RadliteError(
            f"this index's store ({backend_class(backend).describe_settings(backend)}) is opened by one "
            "process at a time: serve it with --workers 1 (or build it on a Qdrant server, --qdrant-url)"
        )
    if token is not None and len(token) < 16:
        raise RadliteError("the API token must be at least 16 characters", param="token")
    if auth_reads and not token:
        raise RadliteError("reads can only require a token when one is given", param="token")
    if host in ("0.0.0.0", "::") and not allowed_host:
        err.print(
            "[yellow]note:[/yellow] clients must send Host localhost or 127.0.0.1; give the name they use "
            "with --allowed-host NAME"
        )
    if host in ("0.0.0.0", "::") and allow_writes and not token:
        err.print("[yellow]warning:[/yellow] writes are allowed on every interface without a token (--token)")
    config = ServeConfig(
        index_dir=str(index.resolve()),
        allow_writes=allow_writes,
        max_query_chars=max_query_chars,
        background_passages=background_over,
        exact=exact,
        verify=not no_verify,
        trust_models=list(trust_model),
        require_token=bool(token),
        auth_reads=auth_reads,
        allowed_hosts=default_hosts(host, allowed_host),
        access_log=access_log,
        log_queries=log_queries,
        feedback=feedback,
    )
    os.environ[ENV] = config.to_env()
    if token:
        os.environ[TOKEN_ENV] = token
    err.print(
        f"radlite: serving {safe(str(index))} on http://{host}:{port}/ ({workers} worker(s), "
        f"writes {'allowed' if allow_writes else 'disabled'}); loading models..."
    )
    uvicorn.run(
        "radlite.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


@command
def rerank_es_cmd(
    query: str = typer.Argument(..., help="What to search for."),
    url: str = typer.Option(..., "--url", help="Cluster URL, e.g. http://localhost:9200."),
    index: str = typer.Option(..., "--index", help="Index (or alias, or pattern) to search."),
    engine: str = typer.Option("elasticsearch", help="'elasticsearch' or 'opensearch' (which official client to use)."),
    text_field: str = typer.Option("content", help="Field with the document text (dotted for nested)."),
    title_field: Optional[str] = typer.Option(None, help="Field with a title to read before the text."),
    size: int = typer.Option(50, min=1, max=1000, help="BM25 hits to fetch and rerank."),
    k: int = typer.Option(10, "-k", "--top-k", min=1, help="Hits to show."),
    weights: str = typer.Option("0.3,0.7", help="Weights of the normalised _score and the calibrated rerank score."),
    reranker: str = typer.Option("default", help="Cross-encoder: hub id, folder or 'default'."),
    api_key: Optional[str] = typer.Option(None, envvar="RADLITE_ES_API_KEY", help="Elasticsearch API key."),
    user: Optional[str] = typer.Option(None, envvar="RADLITE_ES_USER"),
    password: Optional[str] = typer.Option(None, envvar="RADLITE_ES_PASSWORD"),
    as_json: bool = typer.Option(False, "--json", help="Print the reranked hits as JSON."),
    exact: bool = typer.Option(
        False, "--exact", help="Exact PyTorch cross-encoder instead of the int8 ONNX fast path."
    ),
):
    """BM25 query on an Elasticsearch/OpenSearch index, reranked by the cross-encoder."""
    from radlite.integrations.elastic import search_and_rerank

    try:
        w = tuple(float(x) for x in weights.split(","))
    except ValueError:
        raise RadliteError(f"--weights must be two numbers like 0.3,0.7, got {weights!r}") from None
    if len(w) != 2:
        raise RadliteError(f"--weights must be two numbers like 0.3,0.7, got {weights!r}")
    res = search_and_rerank(
        url,
        index,
        query,
        engine=engine,
        size=size,
        text_field=text_field,
        api_key=api_key,
        user=user,
        password=password,
        title_field=title_field,
        weights=w,
        reranker=reranker,
        top_k=k,
        exact=exact,
    )
    if as_json:
        out.print_json(json_text(res, ensure_ascii=False, default=str))
        return
    table = Table(title=f"{safe(query)} — {index} on {safe(url)}, {len(res['hits'])} of {size} BM25 hits reranked")
    for col in ("#", "_id", "combined", "_score", "rerank", "text"):
        table.add_column(col, overflow="fold")
    from radlite.integrations.elastic import _field

    for i, h in enumerate(res["hits"], 1):
        text = str(_field(h, text_field) or "")
        table.add_row(
            str(i),
            safe(str(h.get("_id"))),
            f"{h['combined_score']:.3f}",
            "-" if h.get("_score") is None else f"{h['_score']:.3f}",
            f"{h['rerank_score']:.3f}",
            safe(text[:160] + ("..." if len(text) > 160 else "")),
        )
    out.print(table)


@command
def demo_cmd(
    output: Path = typer.Option(
        None, "--output", "-o", help="Where to keep the demo index (default: a folder under $RADLITE_HOME)."
    ),
    k: int = typer.Option(3, "-k"),
):
    """Index the bundled radiology sample with the default models and run example queries."""
    from radlite.corpus import load_corpus
    from radlite.models.resolve import radlite_home
    from radlite.search.engine import RadLITESearch

    sample = resources.files("radlite") / "data" / "sample"
    docs = load_corpus(Path(str(sample / "radiology_sample.jsonl")))
    queries = [
        json.loads(line) for line in Path(str(sample / "queries.jsonl")).read_text().splitlines() if line.strip()
    ]
    output = output or radlite_home() / "demo-index"
    err.print(f"indexing the bundled sample: {len(docs)} radiology teaching documents, nine subspecialties")
    start = time.perf_counter()
    engine = RadLITESearch(show_progress=True).index_corpus(docs)
    engine.save(output)
    err.print(f"index written to {safe(str(output))} in {time.perf_counter() - start:.1f} s\n")
    hits = 0
    for q in queries[:6]:
        results = engine.search(q["text"], top_k=k)
        hits += bool(results) and results[0]["id"] in q["relevant"]
        print_results(q["text"], results, expected=q["relevant"], confident=engine.confident(results))
        err.print(timings(engine.last_timings) + "\n")
    out.print(f"expected document ranked first for {hits} of {min(6, len(queries))} example queries")
    out.print(f'try: radlite search {safe(str(output))} "your question"', highlight=False)
    print_notes(engine)
