"""The feedback log: latest mark wins, a crash mid-write loses no acknowledged mark, concurrent writers lose
nothing, erasure, and the TREC export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from radlite.errors import CapacityError, QueryError
from radlite.index import feedback
from radlite.index.feedback import FeedbackLog, query_id

WRITER = """
import sys
from radlite.index.feedback import FeedbackLog
log = FeedbackLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.add(f"query {sys.argv[2]} {i % 7}", f"doc-{i}", i % 2 == 0)
    print(i, flush=True)  # acknowledged
"""


@pytest.fixture()
def index(tmp_path):
    (tmp_path / "idx").mkdir()
    return tmp_path / "idx"


def test_latest_mark_of_a_pair_wins_and_case_or_spacing_does_not_split_a_query(index):
    log = FeedbackLog(index)
    log.add("PE  on CTPA", "pe", True)
    log.add("sah", "sdh", True)
    log.add(" pe on\tCTPA ", "pe", False)  # changed their mind, same query typed with other spaces and case
    log.add("PE on CTPA", "dvt", False)
    assert log.judgments() == {"PE on CTPA": {"pe": 0, "dvt": 0}, "sah": {"sdh": 1}}
    assert len(log.records()) == 4  # nothing rewritten: every mark is kept in order
    assert oct(os.stat(log.path).st_mode & 0o777) == "0o600"  # queries may hold patient details


def test_a_torn_last_line_is_skipped_and_the_next_mark_starts_after_it(index):
    log = FeedbackLog(index)
    log.add("q one", "a", True)
    with open(log.path, "ab") as fh:  # a writer killed in the middle of its record
        fh.write(b'{"time": "2026-12-06T00:00:00Z", "query": "q tw')
    log.add("q three", "c", True)
    assert log.judgments() == {"q one": {"a": 1}, "q three": {"c": 1}}


def test_a_writer_killed_mid_stream_loses_no_acknowledged_mark(index):
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(index), "k", "100000"], stdout=subprocess.PIPE, text=True
    )
    acknowledged = -1
    deadline = time.time() + 60
    while acknowledged < 200 and time.time() < deadline:
        acknowledged = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records = FeedbackLog(index).records()
    assert len(records) >= acknowledged + 1 > 200
    assert [r["id"] for r in records] == [f"doc-{i}" for i in range(len(records))]
    FeedbackLog(index).add("after the crash", "x", True)
    assert FeedbackLog(index).records()[-1]["id"] == "x"


def test_concurrent_writers_lose_nothing(index):
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(index), str(n), "150"], stdout=subprocess.DEVNULL)
        for n in range(4)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = FeedbackLog(index).records()
    assert len(records) == 600
    for n in range(4):
        assert [r["id"] for r in records if r["query"].startswith(f"query {n} ")] == [f"doc-{i}" for i in range(150)]


def test_clear_erases_one_query_or_all_and_leaves_no_text_behind(index):
    log = FeedbackLog(index)
    log.add("patient jane doe mri", "a", True)
    log.add("other", "b", True)
    assert log.clear("patient  jane doe mri") == 1
    assert "jane" not in log.path.read_text()
    assert log.judgments() == {"other": {"b": 1}}
    assert log.clear() == 1 and log.judgments() == {}
    assert not [p for p in index.iterdir() if p.name.startswith(".feedback.jsonl.tmp")]


def test_export_writes_trec_qrels_and_their_queries(index, tmp_path):
    log = FeedbackLog(index)
    log.add("target sign", "intus", True)
    log.add("target sign", "pe", False)
    log.add("polo mint", "pe", True)
    assert log.export(tmp_path / "out") == (2, 3)
    qa, qb = query_id("polo mint"), query_id("target sign")
    assert (tmp_path / "out" / "qrels.trec").read_text() == f"{qa} 0 pe 1\n{qb} 0 intus 1\n{qb} 0 pe 0\n"
    assert (tmp_path / "out" / "queries.tsv").read_text() == f"{qa}\tpolo mint\n{qb}\ttarget sign\n"
    assert qa.startswith("fb-") and len(qa) == 15 and qa == query_id(" polo   mint")


def test_bad_marks_are_refused_with_the_reason(index, monkeypatch):
    log = FeedbackLog(index)
    with pytest.raises(QueryError, match="needs the query"):
        log.add("   ", "a", True)
    with pytest.raises(QueryError, match="true or false"):
        log.add("q", "a", "yes")
    with pytest.raises(QueryError, match="lone surrogate"):
        log.add("q \ud800", "a", True)
    with pytest.raises(QueryError, match="at most 10"):
        log.add("q" * 11, "a", True, max_query_chars=10)
    monkeypatch.setattr(feedback, "MAX_BYTES", 200)
    log.add("q", "a", True)
    with pytest.raises(CapacityError, match="full"):
        for _ in range(5):
            log.add("q", "a", True)
    with pytest.raises(QueryError, match="index not found"):
        FeedbackLog(index / "missing").add("q", "a", True)


def test_a_mark_that_could_not_be_written_whole_leaves_nothing_and_is_not_acknowledged(index, monkeypatch):
    log = FeedbackLog(index)
    log.add("first", "a", True)
    size = log.path.stat().st_size
    real = os.write
    calls = []

    def short_then_full_disk(fd, data):  # the disk fills up halfway through the record
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, bytes(data[:10]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feedback.os, "write", short_then_full_disk)
    with pytest.raises(OSError, match="No space"):
        log.add("second", "b", True)
    monkeypatch.setattr(feedback.os, "write", real)
    assert log.path.stat().st_size == size and calls[0] > 10
    log.add("third", "c", True)
    assert log.judgments() == {"first": {"a": 1}, "third": {"c": 1}}


def test_clearing_one_query_while_others_are_marked_loses_none_of_theirs(index):
    """The lock keeps clear()'s read-filter-replace from dropping marks appended meanwhile."""
    log = FeedbackLog(index)
    for i in range(50):
        log.add("erase me", f"x{i}", True)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(index), str(n), "150"], stdout=subprocess.DEVNULL)
        for n in range(3)
    ]
    erased = 0
    while any(w.poll() is None for w in writers):
        erased += log.clear("erase me")
        log.add("erase me", "again", True)
    assert all(w.wait(timeout=120) == 0 for w in writers)
    kept = [r for r in log.records() if r["query"] != "erase me"]
    assert len(kept) == 450 and erased >= 50


def test_exported_files_are_private(index, tmp_path):
    log = FeedbackLog(index)
    log.add("patient jane doe", "a", True)
    log.export(tmp_path / "out")
    for name in ("qrels.trec", "queries.tsv"):
        assert oct(os.stat(tmp_path / "out" / name).st_mode & 0o777) == "0o600"
