"""Relevance judgments from an index's users, kept beside the index.

INDEX_DIR/feedback.jsonl holds one JSON record per mark, appended and never rewritten in place:
  {"time": "2026-12-06T07:30:00Z", "query": "...", "id": "doc-7", "relevant": true, "by": "page"}
The latest mark of a (query, document) pair is the one that counts, so a user can change their mind.

Durability: each append takes an exclusive lock on INDEX_DIR/.feedback.lock, writes the whole record in
one write() to a file opened for appending, and fsyncs it before returning; a crash can leave at most a
torn final line of the record being written (never acknowledged), which readers skip and the next
append starts after. Concurrent writers (server workers, the CLI) are serialised by the lock.

Queries may hold patient details: the file is created mode 0600, stays in the index folder (it is never
part of a generation, so rebuilding or updating the index keeps it), is never sent anywhere, and
`clear()` erases it (all of it, or one query's marks) by atomically replacing the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Iterator

from radlite.errors import CapacityError, QueryError
from radlite.index.store import _fsync_dir

log = logging.getLogger(__name__)

FILE = "feedback.jsonl"
LOCK = ".feedback.lock"
MAX_BYTES = 64 * 1024 * 1024  # ~300,000 marks: more is not feedback, it is a flood
MAX_QUERY_CHARS = 2000
_THREADS = threading.Lock()  # the server's worker threads; processes (and the CLI) meet at the file lock
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def query_key(text: str) -> str:
    """The text a mark's query is kept as: whitespace collapsed (the retrievers ignore it too)."""
    return " ".join(str(text).split())


def same_query(text: str) -> str:
    """What marks are grouped by: the kept text, case-folded ("MRI knee" and "mri knee" are one query)."""
    return query_key(text).casefold()


def query_id(text: str) -> str:
    """A stable id for a query in exported qrels: 'fb-' and 12 hex digits of the sha1 of `same_query(text)`."""
    return "fb-" + hashlib.sha1(same_query(text).encode("utf-8")).hexdigest()[:12]


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is out (a write may take only part, e.g. near a full disk)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError("write returned no progress")
        view = view[n:]


class FeedbackLog:
    """The append-only log of relevance marks of the index at `index_dir`."""

    def __init__(self, index_dir: str | Path):
        self.root = Path(index_dir)
        self.path = self.root / FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with _THREADS:
            try:
                import fcntl
            except ImportError:  # Windows: no advisory file locks; this process's threads are serialised
                yield
                return
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the lock

    def add(
        self, query: str, doc_id: str, relevant: bool, by: str = "api", max_query_chars: int = MAX_QUERY_CHARS
    ) -> dict:
        """Append one mark and make it durable before returning it.

        Raises:
            QueryError: an empty or oversized query or document id.
            CapacityError: the log is over MAX_BYTES.
            OSError: the mark could not be written (nothing of it is left in the log)."""
        key = query_key(query)
        if not key:
            raise QueryError("a feedback mark needs the query it was given for", param="query")
        if len(key) > max_query_chars:
            raise QueryError(f"the query is {len(key)} characters; at most {max_query_chars}", param="query")
        doc_id = str(doc_id)
        if not doc_id or len(doc_id) > 1000:
            raise QueryError("a feedback mark needs the id of the document it judges", param="id")
        if not isinstance(relevant, bool):
            raise QueryError("'relevant' must be true or false", param="relevant")
        try:
            (key + doc_id).encode("utf-8")
        except UnicodeEncodeError:
            raise QueryError("the query or id holds a lone surrogate (invalid UTF-16)", param="query") from None
        if not self.root.is_dir():
            raise QueryError(f"index not found: {self.root}")
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "query": key,
            "id": doc_id,
            "relevant": relevant,
            "by": by,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._locked():
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _BINARY, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size + len(line) > MAX_BYTES:
                    raise CapacityError(f"the feedback log of this index is full ({size:,} bytes)")
                if size and _last_byte(self.path) != b"\n":
                    line = b"\n" + line  # a torn line from a crash: start after it
                try:
                    _write_all(fd, line)
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)  # leave no part of an unacknowledged mark behind
                    raise
            finally:
                os.close(fd)
            if created:
                _fsync_dir(self.root)
        return record

    def records(self) -> list[dict]:
        """Every mark in the order it was made (a torn or unreadable line is skipped, with a warning)."""
        if not self.path.is_file():
            return []
        out, bad = [], 0
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or not {"query", "id", "relevant"} <= rec.keys():
                        raise ValueError
                except ValueError:
                    bad += 1
                    continue
                out.append(rec)
        if bad:
            log.warning("%s: skipped %d unreadable line(s) (a write cut short by a crash)", self.path, bad)
        return out

    def judgments(self) -> dict[str, dict[str, int]]:
        """{query text: {document id: 1 relevant / 0 not relevant}}, the latest mark of each pair; queries that
        differ only in case or spacing are one (kept as most recently typed)."""
        marks: dict[str, dict[str, int]] = {}
        text: dict[str, str] = {}
        for rec in self.records():
            group = same_query(rec["query"])
            text[group] = query_key(rec["query"])
            marks.setdefault(group, {})[str(rec["id"])] = 1 if rec["relevant"] else 0
        return {text[g]: docs for g, docs in marks.items()}

    def clear(self, query: str | None = None) -> int:
        """Erase every mark (or only those of `query`); returns how many records were erased. The file is
        replaced atomically, so the erased text is not left in it."""
        with self._locked():
            records = self.records()
            keep = [] if query is None else [r for r in records if same_query(r["query"]) != same_query(query)]
            if not self.path.exists():
                return 0
            tmp = self.path.with_name(f".{FILE}.tmp-{os.getpid()}")
            _write_private(tmp, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))
            os.replace(tmp, self.path)
            _fsync_dir(self.root)
        return len(records) - len(keep)

    def export(self, folder: str | Path) -> tuple[int, int]:
        """Write the judgments as TREC qrels (`qrels.trec`: 'qid 0 docid grade') and their queries
        (`queries.tsv`: 'qid<TAB>text') into `folder`; returns (queries, judgments)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        judged = self.judgments()
        spaced = next((d for docs in judged.values() for d in docs if len(d.split()) != 1), None)
        if spaced is not None:
            raise QueryError(f"document id {spaced!r} holds whitespace, which TREC qrels cannot carry")
        qrels, queries = [], []
        for text, docs in sorted(judged.items()):
            qid = query_id(text)
            queries.append(f"{qid}\t{text}\n")
            qrels.extend(f"{qid} 0 {doc} {grade}\n" for doc, grade in sorted(docs.items()))
        # the queries may hold patient details: the exported files are private like the log
        _write_private(folder / "qrels.trec", "".join(qrels))
        _write_private(folder / "queries.tsv", "".join(queries))
        return len(queries), len(qrels)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` (replacing it) as mode 0600, fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o600)
    try:
        os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None  # an existing file keeps its mode otherwise
        _write_all(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)
