"""The index manifest: its format, its validation, and the clean-up of stores that only removed
generations named (a rebuilt Qdrant index's old collection)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import radlite
from radlite.backends.registry import backend_class, kinds
from radlite.config import IndexConfig
from radlite.errors import IndexFormatError
from radlite.index.integrity import verify_digest
from radlite.index.store import MANIFEST, live_generation
from radlite.signals import CROSSENCODER, FIRST_STAGE, REGISTRY

logger = logging.getLogger(__name__)

FORMAT = "radlite-index"
READS = (1, 2)  # 1: signals in the index folder (the local backend); 2: signals in another backend


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The validated manifest of the live generation of index directory `root`.

    Raises:
        IndexFormatError: no index there, or its manifest is unreadable, damaged or of an unknown version.
    """
    return manifest_in(live_generation(Path(root)), root)


def manifest_in(folder: Path, root: str | Path) -> dict[str, Any]:
    """The validated manifest of one generation folder (`root` names the index in errors).

    Raises:
        IndexFormatError: the manifest is unreadable, damaged or of a version this radlite does not read.
    """
    verify_digest(folder, root)  # a changed byte in the manifest is named before anything reads it
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{root}: manifest.json is unreadable ({exc}); rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{root}: not a radlite index manifest")
    version = manifest.get("format_version")
    if version not in READS:
        raise IndexFormatError(
            f"{root}: index format version {version}, but radlite {radlite.__version__} reads versions "
            f"{', '.join(map(str, READS))}; "
            f"rebuild it with `radlite index` (the index was written by radlite {manifest.get('radlite_version', '?')})"
        )
    _check_schema(manifest, root)
    return manifest


def _check_schema(manifest: dict, root) -> None:
    def bad(what: str):
        raise IndexFormatError(f"{root}: manifest.json is damaged ({what}); rebuild the index with `radlite index`")

    signals = manifest.get("signals")
    if not isinstance(signals, list) or not signals or any(s not in FIRST_STAGE for s in signals):
        bad("'signals'")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in ("documents", "passages")):
        bad("'counts'")
    models = manifest.get("models")
    if not isinstance(models, dict):
        bad("'models'")
    kinds_used = [REGISTRY[s].model for s in signals if REGISTRY[s].model]
    kinds_used += [CROSSENCODER] if CROSSENCODER in models else []
    for kind in kinds_used:
        m = models.get(kind)
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("sha256"), str):
            bad(f"model entry '{kind}'")
    if not isinstance(manifest.get("config"), dict):
        bad("'config'")
    backend = manifest.get("backend", {"kind": "local"})
    if not isinstance(backend, dict) or backend.get("kind") not in kinds():
        bad("'backend'")
    problem = backend_class(backend).check_settings(backend)
    if problem:
        bad(f"'backend': {problem}")
    try:
        IndexConfig.from_json(manifest["config"])
    except (TypeError, ValueError, AttributeError):
        bad("'config'")


def generation_backends(root: Path) -> dict[str, dict | None]:
    """The backend entry of each generation folder of an index directory (None where unreadable)."""
    out: dict[str, dict | None] = {}
    if root.is_dir():
        for gen in root.glob("gen-*"):
            try:
                backend = json.loads((gen / MANIFEST).read_text(encoding="utf-8")).get("backend") or {"kind": "local"}
                out[gen.name] = backend if isinstance(backend, dict) else None
            except (OSError, ValueError, AttributeError):
                out[gen.name] = None
    return out


def drop_unreferenced(before: dict[str, dict | None], after: dict[str, dict | None], live: dict) -> None:
    """Drop the outside stores (Qdrant collections) that only generations removed by a save named:
    a rebuild's old collection goes when the generation after it is written (the next write), not
    while readers may still be on it. Nothing is dropped if a remaining generation cannot be read."""

    def key(b):
        if not b or b.get("kind") not in kinds():
            return None
        resource = backend_class(b).resource(b)
        return None if resource is None else (b["kind"], resource)

    if any(b is None for b in after.values()):
        logger.warning("an index generation's manifest is unreadable; no backend store was dropped")
        return
    kept = {key(b) for b in after.values()} | {key(live)}
    for gen, backend in before.items():
        if gen in after:
            continue
        if backend is None:
            logger.warning(
                "removed generation %s had an unreadable manifest: a Qdrant collection it named, if "
                "any, was not dropped",
                gen,
            )
        elif key(backend) is not None and key(backend) not in kept:
            try:
                backend_class(backend).drop_resources(backend)
            except Exception as exc:  # the save itself succeeded; a leftover collection is only space
                logger.warning("could not drop the replaced store %s: %s", backend.get("collection"), exc)
