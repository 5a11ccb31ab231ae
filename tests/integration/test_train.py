"""Training: data loading, hard-negative mining, balancing, pseudo-queries, one step of each trainer."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from radlite.errors import CorpusError, RadliteError
from radlite.train.data import Example, TrainingData, balance_categories, load_training_data, near_duplicate
from radlite.train.mining import fill_random_negatives, mine_hard_negatives

COLLECTION = [
    "CT pulmonary angiography shows a filling defect in the pulmonary artery.",  # positive
    "CT pulmonary angiography shows a filling defect in the pulmonary artery!",  # near-duplicate of it
    "Pulmonary artery enlargement on CT suggests pulmonary hypertension.",  # hard negative
    "Ultrasound of the child shows a target sign from intussusception.",
    "MRI of the knee shows a bucket-handle meniscal tear.",
    "Pulmonary embolism on CT: the polo mint sign of a central filling defect.",  # judged relevant (grade 1)
]


def _data() -> TrainingData:
    ex = Example(
        "filling defect pulmonary artery on CT angiography",
        [COLLECTION[0]],
        category="thoracic",
        related={COLLECTION[0], COLLECTION[5]},
    )
    return TrainingData([ex], list(COLLECTION), "toy")


def test_mining_never_returns_a_positive_a_judged_passage_or_a_near_duplicate():
    data = _data()
    stats = mine_hard_negatives(data, num_negatives=2, depth=100, guard=None, progress=False)
    negs = data.examples[0].negatives
    assert negs[0] == COLLECTION[2]  # BM25's best non-relevant passage comes first
    assert COLLECTION[0] not in negs and COLLECTION[1] not in negs and COLLECTION[5] not in negs
    assert stats["skipped_duplicate"] == 1 and stats["skipped_positive"] >= 2
    assert len(negs) <= 2


def test_guard_skips_candidates_scored_near_or_above_the_positive():
    data = _data()

    def word_overlap(query, texts):  # a transparent scorer standing in for the guard model's judgement
        q = set(query.lower().split())
        return np.array([len(q & set(t.lower().rstrip(".").split())) for t in texts], dtype=np.float32)

    stats = mine_hard_negatives(data, num_negatives=1, guard=word_overlap, margin=3.5, progress=False)
    # the positive shares 6 words with the query, "Pulmonary artery enlargement..." 3: within the margin, skipped
    assert COLLECTION[2] not in data.examples[0].negatives
    assert stats["skipped_guard"] >= 1


def test_random_negatives_fill_in_but_never_pick_relevant_text():
    data = _data()
    fill_random_negatives(data.examples, data.collection, 3, seed=1)
    negs = data.examples[0].negatives
    assert len(negs) == 3 and not set(negs) & data.examples[0].related


def test_near_duplicate():
    assert near_duplicate("The Polo mint sign.", "the polo-mint sign")
    assert not near_duplicate("polo mint sign of embolism", "target sign of intussusception")


def test_balance_categories_equalises_counts():
    ex = [Example(f"q{i}", ["p"], category="neuro") for i in range(6)]
    ex += [Example(f"b{i}", ["p"], category="breast") for i in range(2)]
    ex += [Example("free", ["p"])]
    counts = Counter(e.category for e in balance_categories(ex, seed=0))
    assert counts == {"neuro": 6, "breast": 6, None: 1}


def test_jsonl_texts_and_ids(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        json.dumps({"query": "target sign", "positive": "Ultrasound target sign.", "category": "pediatric"})
        + "\n"
        + json.dumps({"question": "polo mint?", "answer": "Polo mint sign.", "negatives": ["MRI knee."]})
        + "\n"
    )
    data = load_training_data(pairs)
    assert [e.query for e in data.examples] == ["target sign", "polo mint?"]
    assert data.examples[0].category == "pediatric" and data.examples[1].negatives == ["MRI knee."]
    assert set(data.collection) == {"Ultrasound target sign.", "Polo mint sign.", "MRI knee."}

    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        json.dumps({"id": "d1", "title": "Intussusception", "text": "Target sign."})
        + "\n"
        + json.dumps({"id": "d2", "text": "Knee."})
        + "\n"
    )
    by_id = tmp_path / "ids.jsonl"
    by_id.write_text(json.dumps({"query": "target sign", "positive": "d1"}) + "\n")
    data = load_training_data(by_id, corpus=corpus)
    assert data.examples[0].positives == ["Intussusception. Target sign."] and len(data.collection) == 2


def test_one_line_per_pair_never_mines_a_positive_of_the_same_query(tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"query": "steeple sign croup", "positive": p})
            for p in ["Croup shows the steeple sign.", "Steeple sign: subglottic narrowing in croup."]
        )
        + "\n"
        + json.dumps({"query": "thumb sign", "positive": "Epiglottitis thumb sign."})
        + "\n"
    )
    data = load_training_data(pairs)
    mine_hard_negatives(data, num_negatives=1, guard=None, progress=False)
    first, second = data.examples[:2]
    assert first.negatives != ["Steeple sign: subglottic narrowing in croup."]
    assert "Croup shows the steeple sign." not in second.negatives


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"query": "x"}', "needs 'query' and 'positive'"),
        ('{"query": "", "positive": "y"}', "query must be a non-empty string"),
        ('{"query": "x", "positive": "y", "negatives": "z"}', "negatives must be a list"),
        ('{"query": "x", "positive": ', "line 1"),
        ('{"query": "x", "positive": []}', "positive must not be empty"),
    ],
)
def test_bad_training_jsonl_names_the_problem(tmp_path, line, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(CorpusError, match=message):
        load_training_data(f)


def test_beir_folder_with_train_qrels(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(
            json.dumps({"_id": i, "title": "", "text": t})
            for i, t in [("a", "filling defect"), ("b", "target sign"), ("c", "polo mint")]
        )
    )
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "embolism"}) + "\n")
    (tmp_path / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\ta\t2\nq1\tc\t1\nq1\tb\t0\n")
    data = load_training_data(tmp_path)
    ex = data.examples[0]
    assert ex.positives == ["filling defect"] and ex.related == {"filling defect", "polo mint"}
    with pytest.raises(CorpusError, match="qrels/dev.tsv"):
        load_training_data(tmp_path, split="dev")


def test_radbench9_training_data_holds_only_train_conditions():
    from radlite.eval.datasets import load_radbench9, split_of
    from radlite.train.data import document_text

    data = load_training_data("radbench9")
    test_texts = {
        document_text(d) for d in load_radbench9("test").corpus if split_of(d.metadata["condition"]) == "test"
    }
    assert len(data.examples) == len(load_radbench9("train").queries)
    assert not test_texts & set(data.collection)
    assert not test_texts & {p for e in data.examples for p in e.positives}


def test_pseudo_queries(tmp_path):
    from radlite.train.adapt import pseudo_queries

    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps(
            {
                "id": "a",
                "title": "Pulmonary embolism on CT",
                "text": (
                    "A central filling defect is seen in the right pulmonary artery. The polo mint sign is seen in "
                    "cross-section when the clot is surrounded by contrast. Right heart strain is common in large "
                    "emboli."
                ),
            }
        )
        + "\n"
    )
    data = pseudo_queries(docs, seed=0)
    by_source = {e.source: e for e in data.examples}
    assert by_source["title"].query == "Pulmonary embolism on CT"
    assert "Pulmonary embolism on CT" not in by_source["title"].positives[0]
    assert by_source["title"].related  # every passage of the document is kept out of its negatives
    sentence = by_source["sentence"]
    assert sentence.query not in sentence.positives[0] and sentence.query in docs.read_text()


# -- one step of each trainer on a tiny model ----------------------------------------------------


@pytest.mark.parametrize("kind", ["colbert", "biencoder", "reranker"])
def test_one_step_of_training_writes_a_loadable_trained_folder(kind, tiny_models, tmp_path):
    from safetensors.torch import load_file

    from radlite.train import TrainConfig, train

    data = load_training_data("radbench9", sample=24)
    base = {
        "colbert": tiny_models["colbert"],
        "biencoder": tiny_models["biencoder"],
        "reranker": tiny_models["reranker"],
    }[kind]
    cfg = TrainConfig(
        kind=kind, base=base, max_steps=1, batch_size=8, guard=tiny_models["biencoder"], learning_rate=1e-2
    )
    out = tmp_path / kind
    info = train(cfg, data, out, dev="radbench9", progress=False)
    marker = json.loads((out / "radlite_model.json").read_text())
    # the cross-encoder's kind is recorded by its one name ("reranker" is the alias radlite 0.1 used)
    assert marker["trained"] is True and marker["kind"] == {"reranker": "crossencoder"}.get(kind, kind)
    assert info["dev_after"] is not None
    assert not (tmp_path / f"{kind}.checkpoints").exists()
    # the weights moved
    before = load_file(str(Path(base) / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert any(not np.allclose(before[k].numpy(), after[k].numpy()) for k in before if k in after)

    # loadable by the library itself ...
    if kind == "colbert":
        from pylate import models

        assert (
            models.ColBERT(model_name_or_path=str(out), device="cpu").encode(["x"], is_query=True)[0].shape[-1] == 128
        )
    elif kind == "biencoder":
        from sentence_transformers import SentenceTransformer

        assert SentenceTransformer(str(out), device="cpu").encode(["x"]).shape == (1, 32)
    else:
        from sentence_transformers import CrossEncoder

        assert CrossEncoder(str(out), device="cpu").predict([("a", "b")]).shape == (1,)
    # ... and by the pipeline, by path
    from radlite.models.resolve import resolve_model

    assert resolve_model("crossencoder" if kind == "reranker" else kind, str(out)).trained is True


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tiny_models, tmp_path):
    from radlite.train import TrainConfig, train

    cfg = TrainConfig(
        kind="biencoder", base=tiny_models["biencoder"], max_steps=2, eval_steps=1, batch_size=4, guard="none"
    )
    out = tmp_path / "bi"
    first = train(cfg, load_training_data("radbench9", sample=12), out, keep_checkpoints=True, progress=False)
    assert first["resumed_from"] is None
    work = tmp_path / "bi.checkpoints" / "checkpoints"
    assert sorted(p.name for p in work.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    # as if the run had been killed after its first checkpoint: the same command picks it up
    import shutil

    shutil.rmtree(work / "checkpoint-2")
    again = train(cfg, load_training_data("radbench9", sample=12), out, progress=False)
    assert again["resumed_from"].endswith("checkpoint-1") and again["rows"] == first["rows"]
    assert not (tmp_path / "bi.checkpoints").exists()


def test_trainer_refuses_to_overwrite_a_folder_it_did_not_make(tiny_models, tmp_path):
    from radlite.train import TrainConfig, train

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RadliteError, match="not a model radlite trained"):
        train(TrainConfig(kind="reranker", base=tiny_models["reranker"], max_steps=1), _data(), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_shipped_form_round_trips(tiny_models, tmp_path):
    """export() keeps changed tensors in fp16 and build_default() rebuilds an equivalent folder."""
    import torch
    from safetensors.torch import load_file

    from radlite.train.defaults import build_default, export

    export(Path(tiny_models["reranker"]), tmp_path / "ship")
    build_default("x", tmp_path / "rebuilt", src=tmp_path / "ship")
    a = load_file(str(Path(tiny_models["reranker"]) / "model.safetensors"))
    b = load_file(str(tmp_path / "rebuilt" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k].to(torch.float16).to(torch.float32), b[k])
    from sentence_transformers import CrossEncoder

    x = CrossEncoder(str(tmp_path / "rebuilt"), device="cpu").predict([("pulmonary embolism", "filling defect")])
    y = CrossEncoder(tiny_models["reranker"], device="cpu").predict([("pulmonary embolism", "filling defect")])
    assert abs(float(x[0]) - float(y[0])) < 1e-2


def test_easy_negatives_are_random_and_never_relevant():
    from radlite.train.mining import add_easy_negatives

    data = _data()
    add_easy_negatives(data.examples, data.collection, 2, seed=0)
    ex = data.examples[0]
    assert len(ex.easy) == 2 and not set(ex.easy) & (ex.related | set(ex.positives))


def test_a_changed_shipped_marker_changes_the_shipped_version(tmp_path, monkeypatch):
    """The built default folder is rebuilt when any shipped file changes, not only its tensors: a release
    that changes only radlite_model.json (e.g. the fast path's precision) must reach users."""
    import shutil

    from radlite.train import defaults

    src = tmp_path / defaults.RERANKER
    shutil.copytree(defaults.shipped(defaults.RERANKER), src)
    monkeypatch.setattr(defaults, "shipped", lambda name: tmp_path / name)
    before = defaults.shipped_sha256(defaults.RERANKER)
    assert defaults.shipped_sha256(defaults.RERANKER) == before
    marker = src / "radlite_model.json"
    marker.write_text(marker.read_text(encoding="utf-8").replace("{", '{"note2": "x",', 1), encoding="utf-8")
    assert defaults.shipped_sha256(defaults.RERANKER) != before
