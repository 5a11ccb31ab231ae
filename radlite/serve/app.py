"""The FastAPI app: search, documents, explanations, health and info, plus the search page.

`create_app(ServeConfig(...))` builds the app; nothing is loaded at import time, and the engine
is opened when the server starts (lifespan). Every worker process serves one engine:

* searches read one snapshot of the index (`RadLITESearch.search_run`: the results and how it read
  the query, from that snapshot), so a write landing meanwhile is seen whole or not at all (for
  the local backend; a Qdrant collection changes in place, so a search during a write may already
  miss deleted passages or skip added ones that its catalog snapshot does not know yet, and BM25
  may mix old and new weights);
* writes (`--allow-writes`) take the index's writer lock, start from the newest generation on
  disk, save a new generation atomically and only then swap it in;
* before each request a worker compares the index's CURRENT generation with the one it holds and
  reloads the index if another worker (or `radlite add`) wrote a newer one.
"""

# no `from __future__ import annotations`: FastAPI reads the request models (built per app, inside
# create_app, from the configured limits) from real annotations, not strings
import json
import logging
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal, Optional

from radlite.config import default_fusion_quality
from radlite.errors import IndexFormatError, RadliteError
from radlite.serve.config import ENV, TOKEN_ENV, ServeConfig, default_hosts, http_status, public_name  # noqa: F401
from radlite.serve.security import access, install_guard
from radlite.signals import BIENCODER, CROSSENCODER

logger = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


class Engine:
    """One worker's engine, kept in step with the index directory."""

    def __init__(self, config: ServeConfig):
        from radlite.index.store import live_generation

        self.config = config
        self.root = Path(config.index_dir)
        # load the generation named now, and remember that one: a write landing while this worker
        # loads makes CURRENT newer than what it holds, and the next request reloads it
        gen = live_generation(self.root)
        self.search = self._open(gen)
        self.generation = gen.name
        # load every model (and build the fast paths) now, not on the first user's request
        self.search.search_run("radlite warm-up query", top_k=1, candidates=1)
        self._reload = threading.Lock()
        self._write = threading.Lock()

    def _open(self, gen: Path):
        from radlite.search.engine import RadLITESearch

        return RadLITESearch.load(
            gen,
            exact=self.config.exact,
            max_query_chars=self.config.max_query_chars,
            verify=self.config.verify,
            trust_models=self.config.trust_models or (),
        )

    def current(self):
        """The engine, its index reloaded first if CURRENT names a newer generation."""
        from radlite.index import SearchIndex
        from radlite.index.store import live_generation

        if live_generation(self.root).name == self.generation:
            return self.search
        with self._reload:  # one reload at a time, always of the newest generation
            for attempt in range(5):
                gen = live_generation(self.root)
                if gen.name == self.generation:
                    break
                try:
                    if self._same_models(gen):
                        self.search.index = SearchIndex.load(gen, verify=self.config.verify)
                    else:  # rebuilt with other models or signals (`radlite index` into this folder)
                        self.search = self._open(gen)
                except IndexFormatError:
                    # a writer in another process replaced and removed that generation while it
                    # was being read: read the newer one (a real corruption fails every time)
                    if attempt == 4 or live_generation(self.root).name == gen.name:
                        raise
                    continue
                self.generation = gen.name
                break
        return self.search

    def _same_models(self, gen: Path) -> bool:
        from radlite.index import manifest_in

        manifest = manifest_in(gen, self.root)
        built = manifest["models"]
        return manifest["signals"] == self.search.index.signals and all(
            built.get(kind, {}).get("sha256") == m.sha256
            for kind, m in self.search.models.items()
            if kind != CROSSENCODER
        )

    def write(self, change) -> Any:
        """Apply `change(engine, index) -> (new index, result)` to the newest index on disk, save
        it as a new generation, then swap it in; returns `result`."""
        from radlite.index.store import live_generation, writer_lock

        with self._write, writer_lock(self.root):
            engine = self.current()
            updated, result = change(engine, engine.index)
            updated.save(self.root)
            with self._reload:
                engine.index, self.generation = updated, live_generation(self.root).name
        return result


def create_app(config: ServeConfig | None = None):
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    config = config or ServeConfig.from_env()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app):
        from radlite.backends.registry import backend_class
        from radlite.index import read_manifest
        from radlite.serve.jobs import JobBoard

        backend = read_manifest(config.index_dir).get("backend") or {"kind": "local"}
        # a store one process opens at a time (Qdrant's local mode) cannot be written by a job's process
        if config.allow_writes and not backend_class(backend).single_process(backend):
            state["jobs"] = JobBoard(config.index_dir, config.to_env())
        state["engine"] = Engine(config)
        yield
        if "jobs" in state:  # SIGTERM: stop this worker's jobs (each leaves the index as it was)
            state["jobs"].stop_all()
        state.clear()

    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN, which hospital networks
    # often cannot reach; the schema itself is at /openapi.json
    app = FastAPI(
        title="radlite",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Multi-stage search over radiology knowledge: BM25, bi-encoder and ColBERT first "
        "stage, cross-encoder rerank, calibrated fusion.",
    )

    def engine() -> Engine:
        if "engine" not in state:
            raise _http(503, "the index is still loading")
        return state["engine"]

    # -- request and response shapes -------------------------------------------------------
    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class SearchRequest(Strict):
        query: str = Field(..., description=f"At most {config.max_query_chars} characters.")
        top_k: int = Field(10, ge=1, le=config.max_top_k)
        candidates: int = Field(
            50, ge=1, le=config.max_candidates, description="Documents pooled and passed to the cross-encoder."
        )
        weights: Optional[dict[str, float]] = Field(
            None, description="Fusion weights by signal (overrides the index's)."
        )
        signals: Optional[list[str]] = Field(None, description="bm25, biencoder, colbert, crossencoder (default: all).")
        method: Optional[Literal["weighted", "rrf"]] = None
        normalization: Optional[Literal["zscore", "minmax"]] = Field(
            None, description="How first-stage scores are normalised before the weighted sum (overrides the index's)."
        )
        fusion: Optional[Literal["seed", "rrf"]] = Field(
            None,
            description="A named fusion instead of the index's own: 'seed' (the RadLITE card's weights over min-max) "
            "or 'rrf'; weights, method and normalization given beside it win.",
        )
        category: Optional[str] = None
        expand: Optional[bool] = Field(
            None,
            description="Read the query with radlite's lexicon (abbreviations, synonyms, negation): true, false (as "
            "typed), or null (what the index says).",
        )

    class ExplainRequest(Strict):
        query: str
        id: str
        passage_index: Optional[int] = Field(None, ge=0)
        expand: Optional[bool] = None

    class FeedbackRequest(Strict):
        query: str = Field(..., min_length=1, description="The query the result was shown for.")
        id: str = Field(..., min_length=1, description="The document judged.")
        relevant: bool = Field(..., description="true: it answers the query; false: it does not.")

    class NewDocument(Strict):
        id: Optional[str] = Field(None, min_length=1)
        title: Optional[str] = None
        text: str = Field(..., min_length=1)
        category: Optional[str] = None
        metadata: Optional[dict[str, Any]] = None

        @field_validator("text")
        @classmethod
        def has_words(cls, v: str) -> str:
            if not v.strip():
                raise ValueError("text is only whitespace")
            return v

        @field_validator("metadata")
        @classmethod
        def plain_json(cls, v):
            try:  # NaN / Infinity would be stored, then fail every response that includes the document
                json.dumps(v, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"metadata must be plain JSON ({exc})") from None
            return v

    class AddRequest(Strict):
        documents: list[NewDocument] = Field(..., min_length=1, max_length=config.max_documents_per_request)

    # -- errors: a clear 4xx for every kind of bad input ------------------------------------
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
            problems.append("malformed JSON body" if e.get("type") == "json_invalid" else f"{where}: {e.get('msg')}")
        # only location, message and type: the input itself may not be JSON (NaN, exceptions in ctx)
        errors = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems), "errors": errors}, status_code=422)

    @app.exception_handler(RadliteError)
    async def radlite_error(request: Request, exc: RadliteError):
        return JSONResponse({"detail": str(exc)}, status_code=http_status(exc))

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is None and request.method in ("POST", "PUT", "PATCH") and "transfer-encoding" in request.headers:
            # a chunked body has no length to check before it is read into memory
            return JSONResponse(
                {"detail": "send the body with a Content-Length (chunked bodies are not accepted)"}, status_code=411
            )
        if size is not None and (not size.isdigit() or int(size) > config.max_body_bytes):
            return JSONResponse({"detail": f"request body over {config.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    install_guard(app, config)

    def need_writes():
        if not config.allow_writes:
            raise _http(403, "writes are disabled; start the server with --allow-writes to add or delete documents")

    # -- endpoints -------------------------------------------------------------------------
    @app.get("/health")
    def health() -> dict:
        return {"status": "ok" if "engine" in state else "loading"}

    @app.get("/info")
    def info() -> dict:
        from radlite.terms.lexicon import load_lexicon

        eng = engine()
        search = eng.current()
        index = search.index
        installed = load_lexicon().describe()
        return {
            "radlite_version": _version(),
            "index_format_version": index.backend.format_version,
            "generation": eng.generation,
            "documents": len(index.documents),
            "passages": len(index.passages),
            "signals": index.signals,
            "categories": sorted({d.category for d in index.documents if d.category}),
            "models": {
                k: {"name": public_name(m.name), "sha256": m.sha256, "trained": m.trained}
                for k, m in search.models.items()
            },
            "fusion": search.fusion_settings(),
            # what the index's fusion was fitted on and its score there (null: radlite's default, fitted on nothing)
            "fusion_fitted": index.config.fusion.fitted,
            # the default's measured quality (with the default models) where nothing was fitted
            "fusion_measured": default_fusion_quality(
                asdict(index.config.fusion),
                search.models[BIENCODER].sha256 if BIENCODER in search.models else None,
            ),
            "writes_allowed": config.allow_writes,
            "feedback": config.feedback,
            "vocabulary": {
                "expand": index.config.vocabulary.expand,
                "lexicon": index.config.vocabulary.lexicon,
                "glossary_entries": len(index.config.vocabulary.glossary or {}),
                # the lexicon searches read queries with: the installed radlite's (the manifest's is the build's)
                "searching_with": {"lexicon": installed["lexicon"], "sha256": installed["sha256"]},
            },
            "exact": config.exact,
            "limits": {
                "max_query_chars": config.max_query_chars,
                "max_top_k": config.max_top_k,
                "max_candidates": config.max_candidates,
            },
        }

    @app.post("/search")
    def search(req: SearchRequest) -> dict:
        if config.log_queries:
            access.info("query %r", req.query)
        from radlite.config import fusion_preset

        search = engine().current()
        preset = fusion_preset(req.fusion) if req.fusion else {}
        weights = {**preset.get("weights", {}), **(req.weights or {})} or None
        method = req.method or preset.get("method")
        normalization = req.normalization or preset.get("normalization")
        t = time.perf_counter()
        run = search.search_run(
            req.query,
            top_k=req.top_k,
            candidates=max(req.candidates, req.top_k),
            signals=req.signals,
            weights=weights,
            method=method,
            category=req.category,
            normalization=normalization,
            expand=req.expand,
            prf=preset.get("prf"),
        )
        results, understood = run.results, run.expansion
        return {
            "query": req.query.strip(),
            # how the query was read (null: searched as typed): abbreviations, phrases, negated and uncertain spans
            "read_as": understood.to_dict() if understood is not None and understood.changed else None,
            "results": [r.to_dict() for r in results],
            # whether the best result is a confident match (null: no estimate for these models)
            "confident": search.confident(results),
            "fusion": search.fusion_settings(req.signals, weights, method, normalization, preset.get("prf")),
            "timings": run.timings,
            "took_ms": (time.perf_counter() - t) * 1000,
        }

    @app.post("/explain")
    def explain(req: ExplainRequest) -> dict:
        from radlite.search.explain import explain as explain_match

        return explain_match(engine().current(), req.query, req.id, req.passage_index, req.expand)  # unknown id: 404

    @app.post("/feedback", status_code=201)
    def feedback(req: FeedbackRequest) -> dict:
        """Record a relevance mark beside the index (`radlite tune INDEX --feedback` fits the fusion on them)."""
        from radlite.index.feedback import FeedbackLog

        if not config.feedback:
            raise _http(403, "feedback is disabled on this server (started with --no-feedback)")
        if req.id not in engine().current().index.positions:
            raise _http(404, f"no document with id {req.id!r}")
        try:
            record = FeedbackLog(config.index_dir).add(
                req.query, req.id, req.relevant, by="http", max_query_chars=config.max_query_chars
            )
        except OSError as exc:
            raise _http(503, f"cannot store feedback beside the index: {exc.strerror or exc}") from None
        return {"recorded": {k: record[k] for k in ("query", "id", "relevant", "time")}}

    @app.get("/documents/{doc_id:path}")
    def get_document(doc_id: str) -> dict:
        index = engine().current().index
        position = index.positions.get(doc_id)
        if position is None:
            raise _http(404, f"no document with id {doc_id!r}")
        return index.documents[position].to_json()

    @app.post(
        "/documents",
        status_code=201,
        responses={202: {"description": "Accepted as a background job: its status, and Location: /jobs/{id}"}},
    )
    def add_documents(req: AddRequest, wait_for_completion: bool = True):
        """Add documents. Small writes are applied now (201); a write of more passages than the
        server's --background-over, one sent with wait_for_completion=false, and any write while
        another job waits or runs become a background job (202; follow it at GET /jobs/{id})."""
        need_writes()
        records = [d.model_dump(exclude_none=True) for d in req.documents]
        ids = [r["id"] for r in records if "id" in r]
        if len(set(ids)) != len(ids):
            raise _http(422, "the same document id appears twice in the request")

        from radlite.corpus import documents_from_records, split_passages

        counts = [
            len(split_passages([d], engine().search.index.config.chunking)) for d in documents_from_records(records)
        ]
        if counts and max(counts) > config.max_passages_per_document:
            raise _http(
                413,
                f"a document of {max(counts)} passages is over the limit of "
                f"{config.max_passages_per_document} per document; split it",
            )
        if sum(counts) > config.max_passages_per_request:
            raise _http(
                413,
                f"{sum(counts)} passages in one request are over the limit of "
                f"{config.max_passages_per_request}; send fewer documents per request",
            )

        jobs = state.get("jobs")
        if jobs is not None and (not wait_for_completion or sum(counts) > config.background_passages or jobs.active()):
            return accepted(submit(jobs, "add", records, passages=sum(counts)))

        def change(search, index):  # an id already there: DocumentConflict from the index, a 409
            updated = search.with_documents(records, index=index)
            new = [d.id for d in updated.documents[len(index.documents) :]]
            return updated, {"added": new, "documents": len(updated.documents)}

        return engine().write(change)

    @app.delete(
        "/documents/{doc_id:path}",
        responses={202: {"description": "Queued behind a running background job: its status"}},
    )
    def delete_document(doc_id: str):
        need_writes()
        jobs = state.get("jobs")
        if jobs is not None and jobs.active():  # the writer lock is held for as long as that job runs
            return accepted(submit(jobs, "delete", [doc_id]))

        def change(search, index):  # unknown id: 404, the last document: 409 (the index's own errors)
            updated = index.without_documents([doc_id])
            return updated, {"deleted": doc_id, "documents": len(updated.documents)}

        return engine().write(change)

    def submit(jobs, action: str, items: list, passages: int | None = None) -> dict:
        if jobs.active() >= config.max_queued_jobs:
            raise _http(429, f"{config.max_queued_jobs} write jobs are already waiting or running; retry when one ends")
        return jobs.submit(action, items, passages=passages)

    def board():
        need_writes()
        if state.get("jobs") is None:  # writes to this index's store are applied in the request
            raise _http(404, "this server runs no background jobs (its index's store is opened by one process)")
        return state["jobs"]

    def accepted(job: dict):
        return JSONResponse(job, status_code=202, headers={"Location": f"/jobs/{job['id']}"})

    def known_job(job: dict | None, job_id: str) -> dict:
        if job is None:
            raise _http(404, f"no job with id {job_id!r}")
        return job

    @app.get("/jobs")
    def list_jobs() -> list:
        """Background write jobs of this index, newest first (finished ones are kept for a day)."""
        return board().jobs()

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict:
        """A job's state (queued, running, done, failed, cancelled), progress, result or error."""
        return known_job(board().status(job_id), job_id)

    @app.delete("/jobs/{job_id}")
    def cancel_job(job_id: str):
        """Cancel a queued or running job: it stops within one encoding batch and writes nothing
        (one already saving finishes). 200 with its final status, 202 while it is still stopping."""
        job = known_job(board().cancel(job_id), job_id)
        return JSONResponse(job, status_code=200 if job["state"] not in ("queued", "running") else 202)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_env():
    """Factory for uvicorn workers (`radlite serve` passes the settings in RADLITE_SERVE_CONFIG)."""
    config = ServeConfig.from_env()
    if config.access_log and not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    return create_app(config)


def _http(status: int, detail: str):
    from fastapi import HTTPException

    return HTTPException(status_code=status, detail=detail)


def _version() -> str:
    import radlite

    return radlite.__version__
