"""Atomic on-disk generations of an index directory.

INDEX_DIR/
  CURRENT            the name of the live generation (replaced atomically with os.replace)
  gen-<time>/        manifest.json + one sub-directory per signal
A write builds a whole new generation in a hidden temporary folder, renames it into place and
only then switches CURRENT, so an interrupted build or update leaves the previous index intact
and a reader always opens one complete generation. The previous generation is kept until the
next write, for readers that are still opening it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

from radlite.errors import IndexFormatError

POINTER = "CURRENT"
MANIFEST = "manifest.json"


def live_generation(root: Path) -> Path:
    """The folder of the live generation of index directory `root` (or `root` itself if it is a generation).

    Raises:
        IndexFormatError: no index at `root`."""
    root = Path(root)
    if not root.exists():
        raise IndexFormatError(f"index not found: {root}")
    pointer = root / POINTER
    if not pointer.is_file():
        if (root / MANIFEST).is_file():
            return root  # a bare generation folder given directly
        raise IndexFormatError(f"{root} is not a radlite index (no {POINTER} file); build one with `radlite index`")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise IndexFormatError(f"{root}: {POINTER} is unreadable; rebuild the index") from None
    gen = root / name
    if not name.startswith("gen-") or not (gen / MANIFEST).is_file():
        raise IndexFormatError(f"{root}: {POINTER} names '{name}', which is missing or incomplete; rebuild the index")
    return gen


def write_generation(root: Path, write: Callable[[Path], None]) -> Path:
    """Call write(folder) on a fresh folder, then make it the live generation atomically."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise IndexFormatError(f"{root} exists and is not a directory")
    if root.is_dir() and any(p.name != ".lock" for p in root.iterdir()) and not (root / POINTER).is_file():
        raise IndexFormatError(f"{root} exists, is not empty and is not a radlite index; choose another output folder")
    root.mkdir(parents=True, exist_ok=True)
    previous = (root / POINTER).read_text(encoding="utf-8").strip() if (root / POINTER).is_file() else None
    name = f"gen-{time.time_ns()}"
    partial = root / f".{name}.partial"
    try:
        write(partial)
        _fsync_tree(partial)
        os.rename(partial, root / name)
        tmp_pointer = root / f".{POINTER}.{os.getpid()}"
        with open(tmp_pointer, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_pointer, root / POINTER)
        _fsync_dir(root)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    _remove_old(root, keep={name, previous})
    return root / name


def _remove_old(root: Path, keep: set) -> None:
    for child in root.iterdir():
        stale_partial = child.name.startswith(".gen-") and child.name.endswith(".partial")
        # generations older than the previous one; a writer holding writer_lock is alone here
        old_generation = child.name.startswith("gen-") and child.name not in keep
        if child.is_dir() and (old_generation or (stale_partial and _older_than(child, 3600))):
            shutil.rmtree(child, ignore_errors=True)


def _older_than(path: Path, seconds: float) -> bool:
    return time.time() - path.stat().st_mtime > seconds


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for path in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    """Persist a directory's entries (new files, renames) where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Exclusive lock for a load-modify-save of one index, so concurrent updates are not lost.

    Readers take no lock: they open whichever complete generation CURRENT names.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; updates must not run concurrently
        yield
        return
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
