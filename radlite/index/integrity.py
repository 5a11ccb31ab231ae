"""Checksums of an index generation: every file's sha256 and size is listed in the manifest when a
generation is written, and checked when it is opened, so a flipped byte anywhere is an error that
names the file instead of a changed ranking or a traceback. The manifest's own digest is kept next
to it (manifest.sha256). `deep_check` adds what hashing cannot see in an index written damaged:
array shapes and value ranges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from radlite.errors import IndexFormatError
from radlite.fsutil import sha256_file
from radlite.index.store import MANIFEST

DIGEST = "manifest.sha256"  # the hex sha256 of manifest.json's bytes


def _listed(folder: Path) -> list[str]:
    """Every file of a generation folder that the manifest lists: all but the manifest and its digest."""
    files = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(set(files) - {MANIFEST, DIGEST})


def file_table(folder: Path) -> dict[str, dict[str, Any]]:
    """{path relative to `folder`: {"sha256", "bytes"}} for every file of a generation folder, the
    manifest and its digest excepted."""
    return {
        rel: {"sha256": sha256_file(folder / rel), "bytes": (folder / rel).stat().st_size} for rel in _listed(folder)
    }


def write_digest(folder: Path) -> None:
    """Write manifest.sha256 for the manifest.json already in `folder`."""
    (folder / DIGEST).write_text(sha256_file(folder / MANIFEST) + "\n", encoding="utf-8")


def _recovery(folder: Path) -> str:
    others = sorted(p.name for p in folder.parent.glob("gen-*") if p != folder and p.is_dir())
    older = (
        f"; an older generation survives ({', '.join(others)}): `radlite verify` it, and point CURRENT at it"
        if others
        else ""
    )
    return f"rebuild the index with `radlite index`{older}"


def verify_digest(folder: Path, root) -> bool:
    """Check manifest.json against manifest.sha256; False when the generation has no digest (written
    before radlite kept checksums).

    Raises:
        IndexFormatError: the manifest's bytes changed since it was written.
    """
    digest = folder / DIGEST
    if not digest.is_file():
        return False
    try:
        expected = digest.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        expected = ""
    if sha256_file(folder / MANIFEST) != expected:
        raise IndexFormatError(f"{root}: manifest.json is damaged (its checksum does not match); {_recovery(folder)}")
    return True


def verify_files(folder: Path, files: dict[str, Any], root) -> None:
    """Check every file listed in the manifest against its size and sha256, and that no other file
    is there.

    Raises:
        IndexFormatError: naming the first damaged, missing or unexpected file.
    """
    if not isinstance(files, dict):
        raise IndexFormatError(f"{root}: manifest.json is damaged ('files'); {_recovery(folder)}")
    present = set(_listed(folder))
    for rel in sorted(set(files) | present):
        entry, path = files.get(rel), folder / rel
        if entry is None:
            raise IndexFormatError(
                f"{root}: unexpected file {rel} in the index (not in its manifest); {_recovery(folder)}"
            )
        if rel not in present:
            raise IndexFormatError(f"{root}: index file {rel} is missing; {_recovery(folder)}")
        if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            raise IndexFormatError(
                f"{root}: index file {rel} is damaged (its checksum does not match the manifest); {_recovery(folder)}"
            )


def deep_check(index) -> list[str]:
    """What is wrong with a loaded index's values, beyond its checksums: passage spans inside their
    documents and in document order, and each signal part's shapes and ranges. [] when sound."""
    problems = []
    p = np.asarray(index.passages)
    lengths = np.array([len(d.text) for d in index.documents])
    if len(p) and (p[:, 0].min() < 0 or p[:, 0].max() >= len(lengths) or np.any(np.diff(p[:, 0]) < 0)):
        problems.append("passages.npy: passage owners out of range or out of document order")
    elif len(p) and (np.any(p[:, 1] < 0) or np.any(p[:, 1] > p[:, 2]) or np.any(p[:, 2] > lengths[p[:, 0]])):
        problems.append("passages.npy: a passage span lies outside its document")
    problems += index.backend.check(index)
    return problems
