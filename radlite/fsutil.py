"""Atomic writes and file hashes shared by the trainer, the model builder and the server's jobs (the index store
has its own generations)."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write a text file so readers see the old content or the new, never half of it."""
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def replace_folder(new: Path, target: Path) -> None:
    """Put the folder `new` at `target`; a folder already there is moved aside first and removed after,
    and put back if the move fails."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
        os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
