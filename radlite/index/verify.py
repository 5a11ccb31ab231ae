"""`radlite verify`: every file of an index against its checksum, then the values of every part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from radlite.errors import IndexFormatError
from radlite.index.catalog import SearchIndex
from radlite.index.integrity import deep_check
from radlite.index.manifest import manifest_in
from radlite.index.store import live_generation


def verify_index(root: str | Path) -> dict[str, Any]:
    """Check the live generation of the index at `root`: every file against the sha256 its manifest
    lists, then passage spans and each signal part's shapes and value ranges. Returns {"generation",
    "files" (how many were hashed), "checksums" (False for an index written without them)}.

    Raises:
        IndexFormatError: the first problem found, with the generations that are intact (a way back).
    """
    root = Path(root)
    live = live_generation(root)
    try:
        index = SearchIndex.load(live, verify=True)
        problems = deep_check(index)
        if problems:
            raise IndexFormatError(f"{root}: {'; '.join(problems)}")
    except IndexFormatError as exc:
        intact = [g.name for g in sorted(root.glob("gen-*")) if g != live and _intact(g)]
        way_back = (
            (f"; intact older generation(s): {', '.join(intact)} (write its name into {root}/CURRENT to go back to it)")
            if intact
            else "; no intact older generation: rebuild with `radlite index`"
        )
        raise IndexFormatError(str(exc) + way_back) from None
    manifest = manifest_in(live, root)
    return {"generation": live.name, "files": len(manifest.get("files", {})), "checksums": "files" in manifest}


def _intact(gen: Path) -> bool:
    try:
        return not deep_check(SearchIndex.load(gen, verify=True))
    except Exception:  # any failure: not a way back
        return False
