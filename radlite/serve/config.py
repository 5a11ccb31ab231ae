"""The server's settings, handed to every worker process, and the names it shows."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from radlite.errors import CapacityError, CorpusError, DocumentConflict, QueryError, RadliteError, UnknownDocument

ENV = "RADLITE_SERVE_CONFIG"  # how `radlite serve --workers N` hands the settings to each worker
TOKEN_ENV = "RADLITE_TOKEN"  # the API token, read by each worker


@dataclass
class ServeConfig:
    index_dir: str
    allow_writes: bool = False
    max_query_chars: int = 2000
    max_top_k: int = 100
    max_candidates: int = 200
    max_body_bytes: int = 10_000_000
    max_documents_per_request: int = 1000
    # a write encodes every new passage while holding the writer lock: bound it, so that one request
    # cannot hold the lock for long (a 10 MB document is ~16,700 passages)
    max_passages_per_request: int = 2000
    max_passages_per_document: int = 400
    # a write of more passages than this runs as a background job (202, GET /jobs/{id}) in a child
    # process at the lowest CPU priority, so searches keep answering while it encodes
    background_passages: int = 64
    max_queued_jobs: int = 16  # jobs waiting or running at once; more writes get 429 until one ends
    exact: bool = False
    verify: bool = True  # check index files against their checksums on every (re)load
    trust_models: Optional[list] = None  # model folders the index may name (see radlite.models.trust)
    # access control: a bearer token required for writes (and for reads too with auth_reads); the
    # token itself travels in RADLITE_TOKEN, never in this (logged, serialised) configuration
    require_token: bool = False
    auth_reads: bool = False
    allowed_hosts: Optional[list] = None  # Host header allow-list (None: not checked; `radlite serve` sets one)
    access_log: bool = False  # one line per request on the radlite.access logger
    log_queries: bool = False  # put the query text in the access log (queries may hold patient data)
    # POST /feedback: relevance marks from the page, kept in INDEX/feedback.jsonl (radlite.index.feedback)
    feedback: bool = True

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        try:
            return cls(**json.loads(os.environ[ENV]))
        except (KeyError, TypeError, ValueError) as exc:
            raise RadliteError(f"{ENV} is missing or invalid ({exc}); start the server with `radlite serve`") from None


def default_hosts(bind: str, extra: list[str] | tuple = ()) -> list[str]:
    """The Host names a server bound to `bind` answers to: `extra` if given, else the bind address and
    localhost's names (a server on every interface needs its public name in `extra`)."""
    if extra:
        return list(extra)
    hosts = ["localhost", "127.0.0.1", "[::1]", "::1"]
    return hosts + ([bind] if bind not in hosts and bind not in ("0.0.0.0", "::") else [])


def public_name(name: str) -> str:
    """A model's name as the API shows it: hub ids and "default" as they are, a folder by its last
    part only (the server's filesystem layout is nobody's business)."""
    path = Path(name).expanduser()
    return path.name if path.is_absolute() or name.startswith((".", "~")) or path.is_dir() else name


def http_status(exc: RadliteError) -> int:
    """The HTTP status the server answers for a radlite error: the client's mistakes (a bad query, an unknown
    id, an id clash or deleting the last document, unreadable documents) are 4xx; other index or model
    trouble is the server's state (unreadable files, a model that fails to load): 503."""
    if isinstance(exc, QueryError):
        return 422
    if isinstance(exc, CapacityError):
        return 507
    if isinstance(exc, UnknownDocument):
        return 404
    if isinstance(exc, DocumentConflict):
        return 409
    return 400 if isinstance(exc, CorpusError) else 503
