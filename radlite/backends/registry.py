"""The backends radlite knows, by the manifest's backend kind. Modules load on first use, so an
index on one backend never imports another's client library."""

from __future__ import annotations

import importlib
from typing import Any

from radlite.backends.base import Backend
from radlite.errors import IndexFormatError

_KINDS = {
    "local": "radlite.backends.local:LocalBackend",
    "qdrant": "radlite.backends.qdrant:QdrantBackend",
    "shards": "radlite.backends.shards:ShardedBackend",
}
LOCAL = {"kind": "local"}


def kinds() -> list[str]:
    """The backend kinds a manifest may name."""
    return list(_KINDS)


def backend_class(settings: dict[str, Any] | str | None) -> type[Backend]:
    """The Backend subclass for a manifest's backend entry (or a kind; None means local).

    Raises:
        IndexFormatError: the kind is not one radlite knows.
    """
    kind = settings if isinstance(settings, str) else (settings or LOCAL).get("kind", "local")
    target = _KINDS.get(kind)
    if target is None:
        raise IndexFormatError(f"unknown index backend {kind!r} (radlite knows {', '.join(map(repr, _KINDS))})")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def qdrant_settings(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The manifest's backend entry for a Qdrant index: radlite.backends.qdrant_conn.settings_for's
    arguments (url or path, collection, shards, replicas, bm25_avgdl_tolerance), loaded on use."""
    from radlite.backends.qdrant_conn import settings_for

    return settings_for(*args, **kwargs)
