"""Which model folders radlite may load: a model folder is code (sentence-transformers imports the
module types its modules.json names), so an index's manifest may only name the built-in defaults,
folders under $RADLITE_HOME, or folders the user trusts ($RADLITE_TRUSTED_MODELS, `--trust-model`).
Any folder whose modules.json names a module type outside sentence-transformers and PyLate is
refused unless the user trusts it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from radlite.errors import ModelError

TRUST_ENV = "RADLITE_TRUSTED_MODELS"  # folders (or their parents) the user trusts, separated by os.pathsep
_SAFE_MODULES = ("sentence_transformers.", "pylate.")


def trusted_roots(extra: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """The folders the user trusts explicitly: $RADLITE_TRUSTED_MODELS and `extra`."""
    named = [p for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p] + [str(p) for p in extra]
    return [Path(p).expanduser().resolve() for p in named]


def _under(path: Path, roots: Iterable[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def check_manifest_model(kind: str, name: str, index: str | os.PathLike, extra: Iterable = ()) -> None:
    """Refuse a model folder an index's manifest names unless it is a built-in default, under
    $RADLITE_HOME or trusted. Hub ids are left to the hub client (weights only, no remote code).

    Raises:
        ModelError: naming the folder and how to trust it.
    """
    from radlite.models.resolve import DEFAULT, UNTRAINED, minilm_path, radlite_home

    if name in (DEFAULT, UNTRAINED, None, ""):
        return
    local = Path(name).expanduser()
    if not local.is_dir():
        return
    builtin = [radlite_home().resolve(), minilm_path().resolve().parent, Path(__file__).resolve().parents[1] / "data"]
    if _under(local.resolve(), builtin + trusted_roots(extra)):
        return
    raise ModelError(
        f"the index at {index} names the {kind} model folder {name}, which radlite does not trust (not a built-in "
        f"default, not under $RADLITE_HOME): a model folder can run code. If you trust it, name it with "
        f"--trust-model {name} or add it to ${TRUST_ENV}",
        param="trust_model",
    )


def check_modules(path: Path, extra: Iterable = ()) -> None:
    """Refuse a model folder whose modules.json names module types outside sentence-transformers and
    PyLate (they would be imported), unless the folder is trusted explicitly.

    Raises:
        ModelError: naming the module type.
    """
    spec = Path(path) / "modules.json"
    if not spec.is_file() or _under(Path(path).resolve(), trusted_roots(extra)):
        return
    try:
        modules = json.loads(spec.read_text(encoding="utf-8"))
        types = [str(m.get("type", "")) for m in modules]
    except (OSError, ValueError, AttributeError, TypeError):
        raise ModelError(f"{spec} is unreadable; the model folder is damaged") from None
    odd = [t for t in types if not t.startswith(_SAFE_MODULES)]
    if odd:
        raise ModelError(
            f"the model folder {path} asks to import module {odd[0]!r}, which is not part of sentence-transformers "
            f"or PyLate; radlite loads it only from a folder you trust (--trust-model {path} or ${TRUST_ENV})",
            param="trust_model",
        )
