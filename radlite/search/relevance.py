"""An absolute relevance estimate, so a result list can say "no confident match".

Fused scores are normalised within each query: the best result of a nonsense query scores as high as
the best of a good one. Two first-stage scores are absolute: the bi-encoder's cosine and ColBERT's
MaxSim per query token. A logistic model on them, fitted for a pair of models by
benchmarks/no_match.py (radbench9 dev plus 225 nonsense and off-topic queries; never a test split), gives
P(relevant); a query whose best result is below `threshold` has no confident match. The fits are kept
by the models' weights (sha256): radlite's default bi-encoder and ColBERT, and all-MiniLM-L6-v2 (the
default bi-encoder before radlite trained its own, which older indexes still use) with the default
ColBERT. Other models have no fitted estimate (relevance None) until someone fits one with that script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from radlite.config import DEFAULT_MODEL_SHA256, MINILM_SHA256
from radlite.signals import BIENCODER, COLBERT


@dataclass(frozen=True)
class RelevanceModel:
    biencoder: float  # weight of the bi-encoder cosine
    colbert_per_token: float  # weight of ColBERT's MaxSim divided by the query's token count
    bias: float
    threshold: float  # a query is confident when its best result's P reaches this

    def probability(self, cosine: float, maxsim: float, query_tokens: int) -> float:
        """P(relevant) of one result from its raw bi-encoder and ColBERT scores."""
        z = self.biencoder * cosine + self.colbert_per_token * maxsim / max(query_tokens, 1) + self.bias
        return 1.0 / (1.0 + math.exp(-z))


# fitted by benchmarks/no_match.py (benchmarks/no_match.md) for radlite's default bi-encoder and ColBERT
DEFAULT = RelevanceModel(biencoder=10.7923, colbert_per_token=2.4634, bias=-4.8674, threshold=0.6148)
# fitted the same way for all-MiniLM-L6-v2 (`untrained`) with the default ColBERT (benchmarks/no_match.md as of
# commit e0054de)
MINILM = RelevanceModel(biencoder=4.8955, colbert_per_token=12.2515, bias=-7.6444, threshold=0.5485)
FITTED = {
    (DEFAULT_MODEL_SHA256[BIENCODER], DEFAULT_MODEL_SHA256[COLBERT]): DEFAULT,
    (MINILM_SHA256, DEFAULT_MODEL_SHA256[COLBERT]): MINILM,
}


def fitted_for(biencoder_sha256: str | None, colbert_sha256: str | None) -> RelevanceModel | None:
    """The estimate fitted for this bi-encoder and ColBERT (by their weights' sha256), or None."""
    return FITTED.get((biencoder_sha256, colbert_sha256))
