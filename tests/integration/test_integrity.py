"""Every byte of an index is checked: a flipped block in any file of a generation is refused with one
sentence that names the file (library), exit code 2 and one line (CLI), never a traceback and never a
changed ranking; `radlite verify` also checks values and points at an intact older generation."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from radlite.cli import app
from radlite.errors import IndexFormatError
from radlite.index import SearchIndex
from radlite.index.integrity import file_table, write_digest
from radlite.search.engine import RadLITESearch

runner = CliRunner()


def _copy(tiny_index, tmp_path, name="idx"):
    path = tmp_path / name
    shutil.copytree(tiny_index, path)
    return path, path / (path / "CURRENT").read_text().strip()


def _flip(path, at=None, n=16):
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if at is None else at
    for i in range(at, min(at + n, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_block_in_any_file_is_named_and_refused(tiny_index, tmp_path):
    _, gen = _copy(tiny_index, tmp_path, "probe")
    files = sorted(p.relative_to(gen).as_posix() for p in gen.rglob("*") if p.is_file())
    assert "documents.jsonl" in files and "manifest.json" in files and len(files) >= 10
    for rel in files:
        path, g = _copy(tiny_index, tmp_path, f"flip-{rel.replace('/', '_')}")
        _flip(g / rel)
        named = "manifest.json" if rel in ("manifest.json", "manifest.sha256") else rel
        with pytest.raises(IndexFormatError, match=f"{named} is damaged") as refused:
            RadLITESearch.load(path)
        assert "\n" not in str(refused.value)
        res = runner.invoke(app, ["search", str(path), "target sign"])
        lines = [x for x in res.output.splitlines() if x.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], (
            rel,
            res.output,
        )
        assert "Traceback" not in res.output
    served = runner.invoke(app, ["serve", str(path), "--port", "1"])  # refused before it listens
    assert served.exit_code == 2 and "is damaged" in served.output


def test_verify_passes_a_sound_index_and_points_back_to_an_intact_generation(tiny_models, tiny_index, tmp_path):
    path, _ = _copy(tiny_index, tmp_path)
    ok = runner.invoke(app, ["verify", str(path)])
    assert ok.exit_code == 0 and "files match their checksums" in ok.output
    engine = RadLITESearch.load(path)
    engine.add_documents([{"id": "new", "text": "Crescent sign of avascular necrosis on hip radiographs."}])
    engine.save(path)  # a second generation; the first survives
    first = sorted(p.name for p in path.glob("gen-*"))[0]
    live = path / (path / "CURRENT").read_text().strip()
    _flip(live / "passages.npy", at=200)
    bad = runner.invoke(app, ["verify", str(path)])
    assert bad.exit_code == 2 and "passages.npy is damaged" in bad.output and first in bad.output
    assert "Traceback" not in bad.output
    # skipping verification is possible, and then the loader's own checks still speak in one line
    assert runner.invoke(app, ["search", str(path), "crescent", "--no-verify"]).exit_code in (0, 2)


def test_verify_finds_values_a_faulty_writer_stored_consistently(tiny_index, tmp_path):
    path, gen = _copy(tiny_index, tmp_path)
    offsets = np.load(gen / "colbert" / "offsets.npy")
    offsets[1], offsets[2] = offsets[2], offsets[1]  # not monotone: a writer bug, not a flipped byte
    np.save(gen / "colbert" / "offsets.npy", offsets)
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["files"] = file_table(gen)  # checksums that agree with the bad values
    (gen / "manifest.json").write_text(json.dumps(manifest))
    write_digest(gen)
    SearchIndex.load(path)  # the checksums match...
    res = runner.invoke(app, ["verify", str(path)])
    assert res.exit_code == 2 and "colbert: token offsets do not match the passages" in res.output


def test_a_generation_damaged_while_serving_answers_503_with_the_file(tiny_index, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from radlite.serve.app import ServeConfig, create_app

    path, _ = _copy(tiny_index, tmp_path)
    with TestClient(create_app(ServeConfig(index_dir=str(path)))) as client:
        assert client.post("/search", json={"query": "target sign"}).status_code == 200
        index = SearchIndex.load(path)  # another process writes a new generation...
        index.save(path)
        live = path / (path / "CURRENT").read_text().strip()
        _flip(live / "documents.jsonl")  # ...which is damaged before this server reads it
        res = client.post("/search", json={"query": "target sign"})
        assert res.status_code == 503 and "documents.jsonl is damaged" in res.json()["detail"]
