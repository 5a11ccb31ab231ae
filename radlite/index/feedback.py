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
import time
from pathlib import Path
from typing import Iterator

from radlite.errors import QueryError
from radlite.index.store import _fsync_dir

log = logging.getLogger(__name__)

FILE = "feedback.jsonl"
LOCK = ".feedback.lock"
MAX_BYTES = 64 * 1024 * 1024  # ~300,000 marks: more is not feedback, it is a flood
MAX_QUERY_CHARS = 2000


def query_key(text: str) -> str:
    """The form marks are grouped by: whitespace collapsed (the retrievers ignore it too)."""
    return " ".join(str(text).split())


def query_id(text: str) -> str:
    """A stable id for a query's text in exported qrels: 'fb-' and 12 hex digits of its sha1."""
    return "fb-" + hashlib.sha1(query_key(text).encode("utf-8")).hexdigest()[:12]


class FeedbackLog:
    """The append-only log of relevance marks of the index at `index_dir`."""

    def __init__(self, index_dir: str | Path):
        self.root = Path(index_dir)
        self.path = self.root / FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one writer at a time
            yield
            return
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def add(self, query: str, doc_id: str, relevant: bool, by: str = "api") -> dict:
        """Append one mark and make it durable before returning it.

        Raises:
            QueryError: an empty or oversized query or document id, or a log over MAX_BYTES."""
        key = query_key(query)
        if not key:
            raise QueryError("a feedback mark needs the query it was given for", param="query")
        if len(key) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is {len(key)} characters; at most {MAX_QUERY_CHARS}", param="query")
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
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size + len(line) > MAX_BYTES:
                    raise QueryError(
                        f"the feedback log of this index is full ({size:,} bytes); export it "
                        "(`radlite feedback INDEX --export DIR`) and clear it"
                    )
                if size and _last_byte(self.path) != b"\n":
                    line = b"\n" + line  # a torn line from a crash: start after it
                os.write(fd, line)
                os.fsync(fd)
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
        """{query text: {document id: 1 relevant / 0 not relevant}}, the latest mark of each pair."""
        out: dict[str, dict[str, int]] = {}
        for rec in self.records():
            out.setdefault(query_key(rec["query"]), {})[str(rec["id"])] = 1 if rec["relevant"] else 0
        return out

    def clear(self, query: str | None = None) -> int:
        """Erase every mark (or only those of `query`); returns how many records were erased. The file is
        replaced atomically, so the erased text is not left in it."""
        with self._locked():
            records = self.records()
            keep = [] if query is None else [r for r in records if query_key(r["query"]) != query_key(query)]
            if not self.path.exists():
                return 0
            tmp = self.path.with_name(f".{FILE}.tmp-{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in keep).encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
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
        (folder / "qrels.trec").write_text("".join(qrels), encoding="utf-8")
        (folder / "queries.tsv").write_text("".join(queries), encoding="utf-8")
        return len(queries), len(qrels)


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1)
