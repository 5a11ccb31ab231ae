"""Read a collection into Documents and split long documents into overlapping passages.

Accepted inputs: a JSONL file, a BEIR folder (`corpus.jsonl`), a JSON array of objects
(e.g. a Radiopaedia-style export whose text is in `content`), or a folder of .txt/.md files.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from radlite.config import ChunkingConfig
from radlite.errors import CorpusError
from radlite.types import Document, Span

logger = logging.getLogger(__name__)

_ID_FIELDS = ("id", "_id")
_RESERVED = {"id", "_id", "title", "category", "metadata"}
_WORD = re.compile(r"\S+")


def load_corpus(path: str | Path, text_field: str | None = None) -> list[Document]:
    """Load documents from a file or folder; raises CorpusError naming the problem."""
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    if path.is_dir():
        beir = path / "corpus.jsonl"
        if beir.is_file():
            return _check_unique(_read_jsonl(beir, text_field or "text"), beir)
        return _check_unique(_read_text_folder(path), path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _check_unique(_read_jsonl(path, text_field or "text"), path)
    if suffix == ".json":
        return _check_unique(_read_json_array(path, text_field or "content"), path)
    if suffix in (".txt", ".md"):
        doc = _text_file_document(path, path.parent)
        if not doc.text.strip():
            raise CorpusError(f"{path}: the file is empty")
        return [doc]
    raise CorpusError(
        f"cannot read {path}: expected a .jsonl, .json, .txt or .md file, a BEIR folder or a folder of .txt/.md files"
    )


def documents_from_records(records: Iterable[Any], text_field: str = "text", first_id: int = 0) -> list[Document]:
    """Documents from Python objects: strings or dicts as in JSONL.

    Records without an id get "first_id", "first_id + 1", ... (their position, shifted).
    """
    docs = []
    for i, rec in enumerate(records, start=first_id):
        if isinstance(rec, Document):
            docs.append(rec)
        elif isinstance(rec, str):
            docs.append(Document(id=str(i), text=rec))
        elif isinstance(rec, dict):
            doc = _document_from_object(rec, text_field, where=f"document {i}", default_id=str(i))
            if doc is not None:
                docs.append(doc)
        else:
            raise CorpusError(f"document {i}: expected a string or a dict, got {type(rec).__name__}")
    return _check_unique(docs, "documents")


def _document_from_object(obj: Any, text_field: str, where: str, default_id: str | None = None) -> Document | None:
    if not isinstance(obj, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    doc_id = next((obj[f] for f in _ID_FIELDS if obj.get(f) not in (None, "")), default_id)
    if doc_id is None:
        raise CorpusError(f"{where}: missing field 'id' (or '_id')")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        raise CorpusError(f"{where}: field 'id' must be a string or an integer, got {json.dumps(doc_id)[:40]}")
    if text_field not in obj:
        present = ", ".join(sorted(obj)) or "none"
        raise CorpusError(
            f"{where}: missing field '{text_field}' (fields present: {present}); choose the text field",
            param="text_field",
        )
    text = obj[text_field]
    if not isinstance(text, str):
        raise CorpusError(f"{where}: field '{text_field}' must be a string, got {type(text).__name__}")
    if not text.strip():
        logger.warning("%s: empty text, skipped", where)
        return None
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CorpusError(f"{where}: field 'metadata' must be an object, got {type(metadata).__name__}")
    metadata = dict(metadata)
    metadata.update({k: v for k, v in obj.items() if k not in _RESERVED and k != text_field})
    try:  # what the index stores and every result prints must be valid JSON and valid UTF-8
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except ValueError:
        raise CorpusError(f"{where}: metadata holds NaN or Infinity, which JSON cannot carry") from None
    except UnicodeEncodeError as exc:
        raise CorpusError(f"{where}: metadata holds invalid text ({exc.reason})") from None
    for name, value in {
        "id": doc_id,
        "title": obj.get("title"),
        "category": obj.get("category"),
        text_field: text,
    }.items():
        check_text(value if isinstance(value, str) else "", f"{where}: field '{name}'", CorpusError)
    category = obj.get("category")
    return Document(
        id=str(doc_id),
        text=text,
        title=str(obj.get("title") or ""),
        category=None if category in (None, "") else str(category),
        metadata=metadata,
    )


def check_text(value: str, what: str, error: type[Exception]) -> str:
    """`value` if it is valid Unicode text; otherwise raise `error` naming `what` and where the
    invalid character (a lone surrogate such as "\\ud800") is."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(f"{what} holds invalid text (a lone surrogate at character {exc.start})") from None
    return value


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; bad JSON or encoding names the line."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(
                    f"{path}: line {lineno} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                ) from None
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from None


def _read_jsonl(path: Path, text_field: str) -> list[Document]:
    docs = []
    for lineno, obj in iter_jsonl(path):
        doc = _document_from_object(obj, text_field, where=f"{path}: line {lineno}")
        if doc is not None:
            docs.append(doc)
    if not docs:
        raise CorpusError(f"{path}: no documents found")
    return docs


def _read_json_array(path: Path, text_field: str) -> list[Document]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if isinstance(data, dict):  # an export wrapped as {"articles": [...]} or similar
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise CorpusError(f"{path}: expected a JSON array of objects")
        data = lists[0]
    if not isinstance(data, list):
        raise CorpusError(f"{path}: expected a JSON array of objects")
    docs = []
    for i, obj in enumerate(data):
        doc = _document_from_object(obj, text_field, where=f"{path}: item {i}", default_id=f"doc-{i}")
        if doc is not None:
            docs.append(doc)
    if not docs:
        raise CorpusError(f"{path}: no documents found")
    return docs


def _read_text_folder(folder: Path) -> list[Document]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".txt", ".md"))
    if not files:
        raise CorpusError(f"{folder}: no corpus.jsonl and no .txt or .md files")
    docs = [d for d in (_text_file_document(p, folder) for p in files) if d.text.strip()]
    if not docs:
        raise CorpusError(f"{folder}: every .txt/.md file is empty")
    return docs


def _text_file_document(path: Path, root: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason})") from None
    title = path.stem.replace("_", " ").replace("-", " ")
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    if first.startswith("#"):
        title = first.lstrip("#").strip()
    rel = path.relative_to(root).with_suffix("")
    return Document(id=rel.as_posix(), text=text, title=title, metadata={"path": path.relative_to(root).as_posix()})


def _check_unique(docs: list[Document], where: Any) -> list[Document]:
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise CorpusError(f"{where}: duplicate document id '{doc.id}'")
        seen.add(doc.id)
    return docs


def split_passages(docs: Sequence[Document], cfg: ChunkingConfig, first_doc: int = 0) -> list[Span]:
    """Overlapping word windows over each document; spans are character offsets into its text."""
    if cfg.passage_words < 1 or not 0 <= cfg.overlap_words < cfg.passage_words:
        raise ValueError("need passage_words >= 1 and 0 <= overlap_words < passage_words")
    stride = cfg.passage_words - cfg.overlap_words
    spans = []
    for offset, doc in enumerate(docs):
        words = [m.span() for m in _WORD.finditer(doc.text)]
        if not words:
            continue
        start = 0
        while True:
            end = min(start + cfg.passage_words, len(words))
            spans.append(Span(first_doc + offset, words[start][0], words[end - 1][1]))
            if end == len(words):
                break
            start += stride
    return spans


def passage_input(doc: Document, span: Span, cfg: ChunkingConfig) -> str:
    """The text an encoder or BM25 sees for a passage: the title, then the passage."""
    body = doc.text[span.start : span.end]
    if cfg.title_in_passage and doc.title:
        return f"{doc.title}. {body}"
    return body
