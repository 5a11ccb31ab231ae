import json

import pytest

from radlite.config import ChunkingConfig
from radlite.corpus import documents_from_records, load_corpus, passage_input, split_passages
from radlite.errors import CorpusError
from radlite.types import Document


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_ids_title_category_and_metadata(tmp_path):
    f = write(
        tmp_path / "c.jsonl",
        [
            json.dumps(
                {"_id": 7, "text": "Aortic dissection.", "title": "AD", "category": "cardiac", "modality": "CT"}
            ),
            "",
            json.dumps({"id": "b", "text": "Pneumothorax."}),
        ],
    )
    docs = load_corpus(f)
    assert [d.id for d in docs] == ["7", "b"]
    assert docs[0].title == "AD" and docs[0].category == "cardiac"
    assert docs[0].metadata == {"modality": "CT"}
    assert docs[1].category is None and docs[1].title == ""


def test_malformed_jsonl_names_the_line(tmp_path):
    f = write(
        tmp_path / "c.jsonl", [json.dumps({"id": "a", "text": "x"}), "{not json", json.dumps({"id": "c", "text": "y"})]
    )
    with pytest.raises(CorpusError, match=r"line 2 is not valid JSON"):
        load_corpus(f)


def test_missing_fields_are_named(tmp_path):
    with pytest.raises(CorpusError, match=r"line 1: missing field 'text'.*fields present: body, id"):
        load_corpus(write(tmp_path / "a.jsonl", [json.dumps({"id": "a", "body": "x"})]))
    with pytest.raises(CorpusError, match=r"line 1: missing field 'id'"):
        load_corpus(write(tmp_path / "b.jsonl", [json.dumps({"text": "x"})]))
    with pytest.raises(CorpusError, match=r"duplicate document id 'a'"):
        load_corpus(write(tmp_path / "c.jsonl", [json.dumps({"id": "a", "text": "x"})] * 2))
    with pytest.raises(CorpusError, match="corpus not found"):
        load_corpus(tmp_path / "nope.jsonl")


def test_beir_folder(tmp_path):
    write(tmp_path / "corpus.jsonl", [json.dumps({"_id": "d1", "title": "T", "text": "hello"})])
    (tmp_path / "queries.jsonl").write_text("")
    assert load_corpus(tmp_path)[0] == Document(id="d1", text="hello", title="T")


def test_json_array_uses_content_or_text_field(tmp_path):
    f = tmp_path / "export.json"
    f.write_text(
        json.dumps(
            [
                {"title": "Osteosarcoma", "content": "Sunburst periosteal reaction.", "url": "u1"},
                {"id": "x", "title": "Ewing", "content": "Onion skin."},
            ]
        )
    )
    docs = load_corpus(f)
    assert [d.id for d in docs] == ["doc-0", "x"]
    assert docs[0].text == "Sunburst periosteal reaction." and docs[0].metadata == {"url": "u1"}
    with pytest.raises(CorpusError, match="missing field 'body'.*choose the text field") as refused:
        load_corpus(f, text_field="body")
    assert refused.value.param == "text_field"  # the library names its parameter; the CLI adds --text-field
    f2 = tmp_path / "bad.json"
    f2.write_text("[{")
    with pytest.raises(CorpusError, match="not valid JSON"):
        load_corpus(f2)


def test_folder_of_text_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# Croup\nSteeple sign on a frontal neck radiograph.")
    (tmp_path / "sub" / "b_note.txt").write_text("Epiglottitis: thumb sign.")
    (tmp_path / "ignored.pdf").write_text("x")
    docs = load_corpus(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("a", "Croup"), ("sub/b_note", "b note")]


def test_records_from_strings_and_dicts():
    docs = documents_from_records(["first", {"id": "z", "text": "second", "category": "gi"}])
    assert [(d.id, d.text, d.category) for d in docs] == [("0", "first", None), ("z", "second", "gi")]


def test_passages_overlap_and_cover_the_document():
    words = [f"w{i}" for i in range(25)]
    doc = Document(id="d", text=" ".join(words), title="T")
    spans = split_passages([doc], ChunkingConfig(passage_words=10, overlap_words=3))
    texts = [doc.text[s.start : s.end].split() for s in spans]
    assert texts[0] == words[0:10] and texts[1] == words[7:17] and texts[2] == words[14:24] and texts[3] == words[21:25]
    assert passage_input(doc, spans[0], ChunkingConfig()) == "T. " + " ".join(words[:10])
    short = Document(id="s", text="only four words here")
    assert len(split_passages([short], ChunkingConfig())) == 1
