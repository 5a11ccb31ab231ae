"""Shared fixtures: tiny models built here (fast) and the real all-MiniLM-L6-v2 defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

SAMPLE = Path(__file__).resolve().parents[1] / "radlite" / "data" / "sample"

# the result JSON's keys, in order (SearchResult.to_dict; pinned by tests/unit/test_results.py)
RESULT_ORDER = [
    "rank",
    "id",
    "corpus_index",
    "title",
    "category",
    "document",
    "passage",
    "passage_index",
    "passage_span",
    "metadata",
    "score",
    "relevance",
    "biencoder_score",
    "bm25_score",
    "colbert_score",
    "crossencoder_score",
    "signals",
    "expansions",
    "negation_penalty",
    "prf",
]

TINY_DOCS = [
    {
        "id": "pe",
        "title": "Pulmonary embolism",
        "text": "CT pulmonary angiography shows a filling defect in the pulmonary artery, the polo mint sign.",
        "category": "thoracic",
    },
    {
        "id": "intus",
        "title": "Intussusception",
        "text": "Ultrasound of the child shows a target sign in the right abdomen from bowel telescoping.",
        "category": "pediatric",
    },
    {
        "id": "ms",
        "title": "Multiple sclerosis",
        "text": "MRI shows T2 FLAIR hyperintense periventricular lesions perpendicular to the ventricles, Dawson "
        "fingers.",
        "category": "neuro",
    },
    {
        "id": "birads",
        "title": "BI-RADS 4 mass",
        "text": "Mammography shows an irregular spiculated mass with BI-RADS 4 suspicion; biopsy is advised.",
        "category": "breast",
    },
    {
        "id": "cspine",
        "title": "C-spine fracture",
        "text": "CT of the c-spine shows a fracture of the odontoid process after trauma.",
        "category": "msk",
    },
]


@pytest.fixture(scope="session", autouse=True)
def radlite_home(tmp_path_factory):
    """Default models are built once per test session into a private RADLITE_HOME."""
    home = os.environ.get("RADLITE_TEST_HOME") or str(tmp_path_factory.mktemp("radlite-home"))
    os.environ["RADLITE_HOME"] = home
    # every folder the tests create (tiny models, trained models) is trusted like the user's own
    os.environ["RADLITE_TRUSTED_MODELS"] = str(tmp_path_factory.getbasetemp())
    return Path(home)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A 2-layer, 32-wide BERT (MiniLM's tokenizer) as bi-encoder, ColBERT and cross-encoder folders."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from radlite.models.resolve import minilm_path

    root = tmp_path_factory.mktemp("tiny-models")
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    backbone = root / "backbone"
    BertModel(config).save_pretrained(backbone)
    tok.save_pretrained(backbone)

    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers import models as st_models

    bi = SentenceTransformer(
        modules=[
            st_models.Transformer(str(backbone), max_seq_length=128),
            st_models.Pooling(32, "mean"),
            st_models.Normalize(),
        ],
        device="cpu",
    )
    bi.save(str(root / "bi"))
    from pylate import models as pl_models

    pl_models.ColBERT(model_name_or_path=str(backbone), device="cpu", embedding_size=128).save(str(root / "colbert"))
    CrossEncoder(str(backbone), num_labels=1, max_length=128, device="cpu").save(str(root / "ce"))
    other = SentenceTransformer(
        modules=[
            st_models.Transformer(str(backbone), max_seq_length=128),
            st_models.Pooling(32, "cls"),
            st_models.Normalize(),
        ],
        device="cpu",
    )
    torch.manual_seed(1)
    for p in other.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    other.save(str(root / "bi-other"))
    return {
        "biencoder": str(root / "bi"),
        "colbert": str(root / "colbert"),
        "reranker": str(root / "ce"),
        "other_biencoder": str(root / "bi-other"),
    }


@pytest.fixture(scope="session")
def tiny_index(tiny_models, tmp_path_factory):
    """TINY_DOCS indexed with the tiny models, saved; returns its path."""
    from radlite.search.engine import RadLITESearch

    path = tmp_path_factory.mktemp("tiny-index") / "idx"
    engine = RadLITESearch(
        biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], reranker=tiny_models["reranker"]
    )
    engine.index_corpus(TINY_DOCS).save(path)
    return path


@pytest.fixture(scope="session")
def sample_docs():
    return [json.loads(line) for line in (SAMPLE / "radiology_sample.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def sample_queries():
    return [json.loads(line) for line in (SAMPLE / "queries.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def minilm_engine(sample_docs, tmp_path_factory):
    """The real default models over the bundled 63-document sample, saved to disk."""
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch().index_corpus(sample_docs)
    path = tmp_path_factory.mktemp("minilm-index") / "idx"
    engine.save(path)
    engine.saved_path = path
    return engine


@pytest.fixture(scope="session")
def sample_tiny_index(tiny_models, sample_docs, tmp_path_factory):
    """The 63-document sample indexed with the tiny (random) models: BM25 is the only signal that knows
    anything, so a fusion fitted on good relevance marks must lean on it."""
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch(
        biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], reranker=tiny_models["reranker"]
    )
    path = tmp_path_factory.mktemp("sample-tiny-index") / "idx"
    engine.index_corpus(sample_docs).save(path)
    return path


def set_fusion(index, **settings) -> None:
    """Give a saved index a fusion, as a tune on another collection would have."""
    from radlite.config import FusionConfig
    from radlite.index import SearchIndex

    updated = SearchIndex.load(index)
    updated.config.fusion = FusionConfig(**settings)
    updated.save(index)


# weights that would suit another collection; with the tiny models they lead with random signals
MISFIT_WEIGHTS = {"bm25": 0.1, "biencoder": 0.5, "colbert": 0.0, "crossencoder": 0.4}


@pytest.fixture()
def live_server():
    """Start `radlite serve INDEX ...` on a free 127.0.0.1 port; yields its base URL, stops it after
    (its output goes to serve-PORT.log beside the index)."""
    import contextlib

    from radlite.serve.process import running_server

    @contextlib.contextmanager
    def start(index, *args):
        with open(Path(index).parent / f"serve-{Path(index).name}.log", "w") as log:
            with running_server(index, *args, log=log) as base:
                yield base

    return start


# -- shared by the backend tests (Qdrant, shards, Ray) ------------------------------------------------
NEW_DOCS = [
    {
        "id": "new-1",
        "title": "Pneumothorax",
        "text": "Chest radiograph shows a visceral pleural line with no lung markings beyond it, a deep sulcus "
        "sign when supine.",
        "category": "thoracic",
    },
    {
        "id": "new-2",
        "title": "Scaphoid fracture",
        "text": "Wrist radiographs after a fall on the outstretched hand; scaphoid waist fracture, risk of "
        "avascular necrosis of the proximal pole.",
        "category": "msk",
    },
    {
        "id": "new-3",
        "title": "Pyloric stenosis",
        "text": "Ultrasound of a vomiting infant shows a thickened elongated pylorus, muscle over 3 mm and channel "
        "over 15 mm.",
        "category": "pediatric",
    },
]


def rewrite_manifest(gen, manifest: dict) -> None:
    """Replace a generation's manifest as a consistent writer would (with its checksum file), to test
    what radlite does with manifests it did not write."""
    import json

    from radlite.index.integrity import write_digest

    (gen / "manifest.json").write_text(json.dumps(manifest))
    write_digest(gen)


def model_flags(models) -> list[str]:
    """The CLI flags that make a command use the tiny test models."""
    return ["--biencoder", models["biencoder"], "--colbert-model", models["colbert"], "--reranker", models["reranker"]]


def sample_query_texts():
    import json

    return [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").read_text().splitlines()] + [
        "pleural line deep sulcus",
        "thickened pylorus infant",
        "scaphoid avascular necrosis",
    ]


def backend_engine(models, backend=None):
    from radlite.config import IndexConfig
    from radlite.search.engine import RadLITESearch

    config = IndexConfig()
    config.colbert.nprobe = 0  # the local ColBERT search exact, as Qdrant's re-scoring of all candidates is here
    return RadLITESearch(
        biencoder=models["biencoder"],
        colbert=models["colbert"],
        reranker=models["reranker"],
        config=config,
        backend=backend,
    )


def assert_same_top10(a_ids, a_scores, b_ids, b_scores, what):
    """Same passages in the same order with the same scores; two passages may swap only where their
    scores tie to float rounding (bm25s and Qdrant add the same terms in different orders)."""
    import numpy as np

    k = min(10, len(a_ids))
    assert len(b_ids) >= k, what
    np.testing.assert_allclose(a_scores[:k], b_scores[:k], rtol=1e-5, atol=1e-6, err_msg=str(what))
    for i in range(k):
        if a_ids[i] != b_ids[i]:  # then the passage Qdrant put here scores the same locally (a tie)
            where = np.flatnonzero(a_ids == b_ids[i])
            local_score = a_scores[where[0]] if len(where) else b_scores[i]  # past the local cut: Qdrant's
            assert abs(local_score - a_scores[i]) <= 1e-6 * max(1.0, abs(float(a_scores[i]))), (what, i, a_ids, b_ids)
    assert sum(a != b for a, b in zip(a_ids[:k].tolist(), b_ids[:k].tolist())) <= 2, what
