"""The cross-encoder's training pieces: the first-stage teacher, distillation targets, the smaller
student, synthetic queries, and the trained pair length reaching the reranker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from radlite.train.data import Example, TrainingData
from radlite.types import Document

COLLECTION = [
    "Pulmonary embolism: CT pulmonary angiography shows a filling defect in the pulmonary artery.",  # positive
    "Pulmonary hypertension: the pulmonary artery is enlarged on CT.",  # hard negative
    "Intussusception: ultrasound of the child shows a target sign.",
    "Meniscal tear: MRI of the knee shows a bucket-handle fragment.",
    "Pulmonary embolism: the polo mint sign of a central filling defect.",  # judged related
]


def _example() -> Example:
    return Example("filling defect in the pulmonary artery", [COLLECTION[0]], related={COLLECTION[0], COLLECTION[4]})


def test_distill_targets_mix_judgments_and_teacher_by_hand():
    from radlite.train.teacher import distill_targets

    ex = _example()
    docs = [COLLECTION[0], COLLECTION[4], COLLECTION[1]]
    # judgments alone: positive 1, related 0.3, negative 0, normalised
    assert distill_targets(ex, docs, mix=0.0) == pytest.approx([1 / 1.3, 0.3 / 1.3, 0.0])
    ex.teacher = {COLLECTION[0]: 2.0, COLLECTION[4]: 1.0, COLLECTION[1]: 1.0}
    soft = np.exp(np.array([2.0, 1.0, 1.0]) / 0.5)
    soft /= soft.sum()
    expected = 0.5 * np.array([1 / 1.3, 0.3 / 1.3, 0.0]) + 0.5 * soft
    got = distill_targets(ex, docs, mix=0.5, temperature=0.5)
    assert got == pytest.approx(expected.tolist())
    assert sum(got) == pytest.approx(1.0)


def test_distill_rows_carry_log_targets_that_listnet_turns_back_into_the_targets():
    from radlite.train import TrainConfig
    from radlite.train.teacher import distill_targets
    from radlite.train.trainers import training_rows

    ex = _example()
    ex.negatives = [COLLECTION[1], COLLECTION[2]]
    ex.easy = [COLLECTION[3]]
    ex.teacher = {COLLECTION[0]: 2.5, COLLECTION[4]: 2.0, COLLECTION[1]: 1.5, COLLECTION[2]: 0.2}
    cfg = TrainConfig(kind="reranker", loss="distill", num_negatives=2, easy_negatives=1)
    (row,) = training_rows([ex], cfg)
    assert row["docs"] == [COLLECTION[0], COLLECTION[4], COLLECTION[1], COLLECTION[2], COLLECTION[3]]
    labels = np.array(row["labels"])
    softmax = np.exp(labels - labels.max()) / np.exp(labels - labels.max()).sum()
    assert softmax == pytest.approx(distill_targets(ex, row["docs"]), abs=1e-5)
    # the random passage the teacher never saw: score 0, so only the teacher's half of exp(0) / sum exp(s / 0.5)
    assert softmax.argmax() == 0
    assert softmax[-1] == pytest.approx(0.5 / np.exp(np.array([2.5, 2.0, 1.5, 0.2, 0.0]) / 0.5).sum(), rel=1e-4)


def test_teacher_takes_its_best_non_relevant_candidates_and_scores_every_text(tiny_models):
    from radlite.train.teacher import first_stage_engine, teach

    data = TrainingData([_example()], list(COLLECTION) + [COLLECTION[2]], "toy")  # a duplicate text is indexed once
    engine = first_stage_engine(
        data.collection, biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], progress=False
    )
    assert len(engine.index.documents) == len(COLLECTION)
    stats = teach(data, depth=5, num_negatives=2, engine=engine, progress=False)
    ex = data.examples[0]
    assert len(ex.negatives) == 2 and stats["negatives"] == 2 and stats["mined"] == 2  # 5 candidates: no random fill
    assert not {COLLECTION[0], COLLECTION[4]} & set(ex.negatives)  # never the positive or a judged passage
    assert ex.negatives[0] == COLLECTION[1]  # shares the most query words: the fused first stage ranks it first
    assert set(ex.teacher) == {COLLECTION[0], COLLECTION[4], *ex.negatives}
    assert ex.teacher[COLLECTION[0]] >= ex.teacher[ex.negatives[1]]


def test_keep_bottom_layers_makes_a_smaller_student_that_trains_and_loads(tiny_models, tmp_path, monkeypatch):
    from sentence_transformers import CrossEncoder

    from radlite.models import CrossEncoderReranker
    from radlite.train import TrainConfig, train
    from radlite.train.teacher import first_stage_engine

    data = TrainingData(
        [_example(), Example("target sign child ultrasound", [COLLECTION[2]], related={COLLECTION[2]})],
        list(COLLECTION),
        "toy",
    )
    import radlite.train.teacher as teacher

    monkeypatch.setattr(
        teacher,
        "first_stage_engine",
        lambda texts, progress=True: first_stage_engine(
            texts, biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], progress=False
        ),
    )
    cfg = TrainConfig(
        kind="reranker",
        base=tiny_models["reranker"],
        loss="distill",
        keep_layers=1,
        max_steps=1,
        batch_size=2,
        num_negatives=2,
        max_length=96,
        learning_rate=1e-2,
        teacher_depth=5,
    )
    info = train(cfg, data, tmp_path / "student", progress=False)
    assert info["rows"] == 2 and info["mining"]["negatives"] == 4
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    model = CrossEncoder(str(tmp_path / "student"), device="cpu")
    assert len(model.model.bert.encoder.layer) == 1 and model.predict([("a", "b")]).shape == (1,)
    # the pipeline's reranker runs at the pair length the model was trained at
    assert CrossEncoderReranker(tmp_path / "student").max_length == 96
    assert CrossEncoderReranker(Path(tiny_models["reranker"])).max_length == 512  # not made by radlite: 512
    with pytest.raises(Exception, match="keep_layers must be from 1 to 2"):
        from radlite.train.layers import keep_bottom_layers

        keep_bottom_layers(CrossEncoder(tiny_models["reranker"], device="cpu"), 3)


def test_distill_refuses_other_kinds(tiny_models, tmp_path):
    from radlite.errors import RadliteError
    from radlite.train import TrainConfig, train

    with pytest.raises(RadliteError, match="distill loss trains a cross-encoder"):
        train(
            TrainConfig(kind="biencoder", base=tiny_models["biencoder"], loss="distill"),
            TrainingData([_example()], COLLECTION, "toy"),
            tmp_path / "x",
        )


def test_ontology_queries_ask_by_synonym_for_the_named_definition(tmp_path):
    from radlite.train.synth import ontology_queries

    f = tmp_path / "do.jsonl"
    rows = [
        {
            "name": "angiosarcoma",
            "synonyms": ["hemangiosarcoma"],
            "definition": "A vascular cancer that derives_from the cells lining blood vessels.",
        },
        {"name": "croup", "synonyms": [], "definition": "A viral laryngotracheobronchitis of children."},
        {"name": "no definition", "synonyms": ["x"], "definition": None},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = ontology_queries(f)
    assert [(e.query, e.positives) for e in data.examples] == [
        ("hemangiosarcoma", ["angiosarcoma. A vascular cancer that derives from the cells lining blood vessels."])
    ]
    assert len(data.collection) == 2  # croup is a negative to draw from, the entry without a definition is not


def test_finding_queries_drop_the_condition_name_and_keep_the_sentences_out_of_the_positive():
    from radlite.train.synth import finding_queries

    doc = Document(
        id="n1",
        title="Subarachnoid hemorrhage",
        category="neuro",
        text=(
            "Subarachnoid hemorrhage fills the basal cisterns with hyperdense blood on noncontrast CT. "
            "Most cases follow rupture of a saccular aneurysm of the circle of Willis. "
            "CT angiography locates the aneurysm before coiling or clipping by the team. "
            "Vasospasm peaks between days four and fourteen and is followed with transcranial Doppler."
        ),
    )
    data = finding_queries([doc], per_document=2, min_words=5)
    assert len(data.examples) == 2 and data.collection[0].startswith("Subarachnoid hemorrhage. ")
    from radlite.train.adapt import sentences

    every = sentences(doc.text)
    for ex in data.examples:
        words = {w.strip(".,").lower() for w in ex.query.split()}
        assert not {"subarachnoid", "hemorrhage"} & words and {"hyperdense", "aneurysm"} & words
        # the positive is the passage without the query's two sentences; the whole passage is judged related
        assert sum(s in ex.positives[0] for s in every) == 2
        assert ex.positives[0].startswith("Subarachnoid hemorrhage. ") and data.collection[0] in ex.related


def test_trained_max_length_reads_the_marker(tmp_path):
    from radlite.models.encoders import trained_max_length

    assert trained_max_length(tmp_path) is None
    (tmp_path / "radlite_model.json").write_text(json.dumps({"config": {"max_length": 192}}))
    assert trained_max_length(tmp_path) == 192
    (tmp_path / "radlite_model.json").write_text("not json")
    assert trained_max_length(tmp_path) is None


def test_platt_fit_recovers_a_known_slope_and_offset():
    from radlite.train.calibrate import fit_platt

    rng = np.random.default_rng(0)
    x = rng.normal(size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(2 * x - 1)))).astype(int)
    a, b = fit_platt(x, y)
    assert a == pytest.approx(2.0, abs=0.1) and b == pytest.approx(-1.0, abs=0.1)
    with pytest.raises(ValueError, match="both relevant and non-relevant"):
        fit_platt([0.1, 0.2], [1, 1])


def test_calibration_folded_into_the_head_gives_the_fitted_probability(tiny_models, tmp_path):
    import shutil

    from radlite.models import CrossEncoderReranker
    from radlite.train.calibrate import fold_into_head

    folder = tmp_path / "ce"
    shutil.copytree(tiny_models["reranker"], folder)
    pairs = [("pulmonary embolism", COLLECTION[0]), ("knee", COLLECTION[3]), ("child", COLLECTION[2])]
    before = CrossEncoderReranker(folder).predict(pairs)
    fold_into_head(folder, a=2.0, b=-1.0, temperature=1.5)
    after = CrossEncoderReranker(folder).predict(pairs)
    assert after / 1.5 == pytest.approx(2.0 * before - 1.0, abs=1e-4)
    assert json.loads((folder / "radlite_model.json").read_text())["calibration"]["a"] == 2.0
