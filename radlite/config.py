"""Configuration as dataclasses, saved inside the index manifest. Nothing here is global."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

from radlite.signals import BIENCODER, BM25, COLBERT, CROSSENCODER, FIRST_STAGE

# The seed card's fusion: bi-encoder 0.5, cross-encoder 0.2, BM25 0.3; ColBERT is a candidate
# generator whose score is kept on every result (weight 0 unless a user or `tune` sets one).
SEED_WEIGHTS = {BIENCODER: 0.5, CROSSENCODER: 0.2, BM25: 0.3, COLBERT: 0.0}
# The default: the seed's first-stage weights, and the cross-encoder at the weight it earns. On radbench9 dev
# (benchmarks/crossencoder_weight.md) no weight from 0.05 to 0.8 beat weight 0 (best p = 0.28), nor on test,
# medline or liveqa-med, so it counts 0: its score is still kept on every result returned (at weight 0 only those
# are scored: it cannot change the order), `--no-rerank` skips it, and `--fusion`/`weights` or `radlite tune` give
# it a weight.
# The default: equal weights over the three first-stage signals, each z-scored over the candidates
# (FusionConfig.normalization), chosen on radbench9 dev among rules that fit nothing, and measured on
# collections nothing was fitted on (benchmarks/fusion_transfer.md): against the seed's first-stage
# weights with min-max, +0.023 nDCG@10 on radbench9 test, +0.029 on medline, +0.017 on liveqa-med (queries read
# with radlite.terms, as an index built since issue 18 reads them; radlite's trained bi-encoder). Pseudo-relevance
# feedback (FusionConfig.prf) adds +0.021 on radbench9 test, +0.004 on medline, +0.007 on liveqa-med.
DEFAULT_WEIGHTS = {BM25: 1 / 3, BIENCODER: 1 / 3, COLBERT: 1 / 3, CROSSENCODER: 0.0}
SEED_TEMPERATURE = 1.5
# the weight of the default fusion's pseudo-relevance feedback (FusionConfig.prf)
DEFAULT_PRF = 0.5
# the default fusion's nDCG@10 with radlite's default models, on collections nothing was fitted on
# (benchmarks/fusion_transfer.md, 2026-12-07, queries read with radlite.terms (lexicon 7), radbench9 with its abbrev and
# negation queries, and radlite's trained bi-encoder; re-measure with `python benchmarks/fusion_transfer.py`)
# the weights (sha256, radlite.models.resolve.weights_sha256) of radlite's default bi-encoder and ColBERT, and of
# all-MiniLM-L6-v2 (`untrained`, the default bi-encoder before radlite trained its own): what the measured numbers
# below and the relevance estimates (radlite.search.relevance) were measured with
DEFAULT_MODEL_SHA256 = {
    BIENCODER: "ec5e23428e06c9dc298732138395bfd44cdb4fc6fec1abb9cc936cdaaaff5702",  # biencoder-minilm-l6-radlite-v1
    COLBERT: "d64582e1b3c9a25c56cba7f8f7b48953ef6e98993ccf26aaa576cfd036a9f504",  # colbert-minilm-l6-128-radlite-v1
}
MINILM_SHA256 = "5076c6045d315992ac1325636e50a5a084335f5edad94d16747e5d4370a0fb0d"
DEFAULT_FUSION_MEASURED = {
    "models": "radlite's default models",
    "source": "benchmarks/fusion_transfer.md",
    "ndcg@10": {"radbench9 test": 0.861, "medline test": 0.808, "liveqa-med test": 0.695},
}
NORMALIZATIONS = ("zscore", "minmax")
# named fusions a search can ask for instead of the index's own (`radlite search --fusion NAME`, the API's `fusion`)
FUSION_PRESETS = {
    "seed": {"weights": dict(SEED_WEIGHTS), "method": "weighted", "normalization": "minmax", "prf": 0.0},  # the card's
    "rrf": {"method": "rrf", "weights": {BM25: 1.0, BIENCODER: 1.0, COLBERT: 1.0, CROSSENCODER: 0.0}},
}


def fusion_preset(name: str) -> dict[str, Any]:
    """The search() arguments of a named fusion (a copy: the caller may change its weights).

    Raises:
        QueryError: no fusion has that name."""
    from radlite.errors import QueryError

    if name not in FUSION_PRESETS:
        raise QueryError(f"unknown fusion {name!r}: use one of {', '.join(FUSION_PRESETS)}", param="fusion")
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in FUSION_PRESETS[name].items()}


@dataclass
class ChunkingConfig:
    """Documents longer than `passage_words` are split into windows overlapping by `overlap_words`.

    128 words is about 180 word pieces of medical English, inside MiniLM's 256-token limit
    and PyLate's default document length.
    """

    passage_words: int = 128
    overlap_words: int = 32
    title_in_passage: bool = True


@dataclass
class BM25Config:
    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"


@dataclass
class ColbertIndexConfig:
    """Centroid-IVF candidates (PLAID stages 1-2), then MaxSim re-scoring of the best.

    Each query token probes its `nprobe` nearest centroids; passages in those inverted lists get
    an approximate score, the best `rescore` are re-scored with MaxSim. `full_vectors=True`
    stores fp16 token vectors (256 bytes per token) and re-scores exactly; `False` stores only
    a product-quantised residual from each token's centroid (`pq_subvectors` bytes per token)
    and re-scores on decoded vectors (approximate). `nprobe=0` searches by brute-force MaxSim
    over every passage. `n_centroids=0` picks a power of two near 4 * sqrt(number of tokens).
    """

    n_centroids: int = 0
    nprobe: int = 8
    rescore: int = 256
    kmeans_iters: int = 10
    seed: int = 0
    full_vectors: bool = True
    pq_subvectors: int = 64


@dataclass
class FusionConfig:
    """How signals combine into one score.

    method "weighted": normalise each first-stage signal over the candidates (`normalization`:
    "zscore", the score minus the lowest candidate's over the standard deviation, so each signal
    weighs by how far a candidate stands out; or "minmax", scaled to [0, 1]), take the
    cross-encoder as sigmoid(logit / temperature), and sum with `weights`.
    method "rrf": sum of weight / (rrf_k + rank) over the signals that ranked the document.
    """

    method: str = "weighted"
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    temperature: float = SEED_TEMPERATURE
    rrf_k: int = 60
    # an index written before this setting existed has none in its manifest: it keeps min-max (IndexConfig.from_json)
    normalization: str = "zscore"
    # pseudo-relevance feedback, under weighted fusion with the bi-encoder and another first-stage signal: each
    # candidate gains `prf` times its normalised bi-encoder similarity to the candidate fused first (0: none). Chosen on
    # radbench9 train and dev (benchmarks/fusion_transfer.md); an index written before it existed keeps 0 (from_json)
    prf: float = DEFAULT_PRF
    # what this setting was fitted on and how it scored there (None: radlite's default, fitted on nothing), and the
    # setting it replaced, which `radlite tune --rollback` restores
    fitted: Optional[dict] = None
    previous: Optional[dict] = None


def default_fusion_quality(fusion: dict[str, Any], biencoder_sha256: Optional[str] = None) -> Optional[dict]:
    """DEFAULT_FUSION_MEASURED if `fusion` (a FusionConfig as a manifest stores it) is radlite's default fusion,
    unfitted; else None (a fitted fusion carries its own numbers in `fitted`). Given the index's bi-encoder weights
    and they are not the default's, the numbers are left out ("ndcg@10" empty): they were not measured with it."""
    default = FusionConfig()
    same = (
        not fusion.get("fitted")
        and fusion.get("method") == default.method
        and fusion.get("normalization", "minmax") == default.normalization
        and abs(float(fusion.get("prf", 0.0)) - default.prf) < 1e-9
        and all(abs(float(fusion.get("weights", {}).get(s, 0.0)) - w) < 1e-9 for s, w in default.weights.items())
    )
    if not same:
        return None
    if biencoder_sha256 is not None and biencoder_sha256 != DEFAULT_MODEL_SHA256[BIENCODER]:
        return {**DEFAULT_FUSION_MEASURED, "models": "other models than radlite's defaults", "ndcg@10": {}}
    return DEFAULT_FUSION_MEASURED


@dataclass
class VocabularyConfig:
    """Query understanding with radlite's lexicon (radlite.terms): abbreviations, synonyms, lay words and
    negation. `lexicon` names the lexicon the index was built with (its version and sha256); `glossary` is the
    site's own {term: [expansion, ...]} (`radlite index --glossary FILE`), read before the lexicon."""

    # an index written before this setting existed has none in its manifest: it keeps searching without
    # expansion (IndexConfig.from_json)
    expand: bool = True
    lexicon: Optional[dict] = None
    glossary: Optional[dict] = None


@dataclass
class IndexConfig:
    """Everything that shapes an index; stored in its manifest."""

    signals: list[str] = field(default_factory=lambda: list(FIRST_STAGE))
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    bm25: BM25Config = field(default_factory=BM25Config)
    colbert: ColbertIndexConfig = field(default_factory=ColbertIndexConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    vocabulary: VocabularyConfig = field(default_factory=VocabularyConfig)

    def to_json(self) -> dict[str, Any]:
        """The configuration as the manifest stores it."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "IndexConfig":
        """A configuration from a manifest's; unknown keys are ignored, missing ones default."""

        def build(kind, data):
            names = {f.name for f in fields(kind)}
            return kind(**{k: v for k, v in (data or {}).items() if k in names})

        return cls(
            signals=list(obj.get("signals", FIRST_STAGE)),
            chunking=build(ChunkingConfig, obj.get("chunking")),
            bm25=build(BM25Config, obj.get("bm25")),
            colbert=build(ColbertIndexConfig, obj.get("colbert")),
            fusion=build(FusionConfig, {"normalization": "minmax", "prf": 0.0, **(obj.get("fusion") or {})}),
            vocabulary=build(VocabularyConfig, {"expand": False, **(obj.get("vocabulary") or {})}),
        )
