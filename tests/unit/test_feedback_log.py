"""The feedback log: latest mark wins, a crash mid-write loses no acknowledged mark, concurrent writers lose
nothing, erasure, and the TREC export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from radlite.errors import QueryError
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


def test_latest_mark_of_a_pair_wins_and_whitespace_does_not_split_a_query(index):
    log = FeedbackLog(index)
    log.add("PE  on CTPA", "pe", True)
    log.add("sah", "sdh", True)
    log.add(" PE on\tCTPA ", "pe", False)  # changed their mind, same query typed with other spaces
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
    monkeypatch.setattr(feedback, "MAX_BYTES", 200)
    log.add("q", "a", True)
    with pytest.raises(QueryError, match="full"):
        for _ in range(5):
            log.add("q", "a", True)
    with pytest.raises(QueryError, match="index not found"):
        FeedbackLog(index / "missing").add("q", "a", True)
