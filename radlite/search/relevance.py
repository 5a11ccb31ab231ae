"""An absolute relevance estimate, so a result list can say "no confident match".

Fused scores are normalised within each query: the best result of a nonsense query scores as high as
the best of a good one. Two first-stage scores are absolute: the bi-encoder's cosine and ColBERT's
MaxSim per query token. A logistic model on them, fitted for the default models by
benchmarks/no_match.py (radbench9 dev plus 225 nonsense and off-topic queries; never a test split), gives
P(relevant); a query whose best result is below `threshold` has no confident match. Other models
have no fitted estimate (relevance None) until someone fits one with that script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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


# fitted by benchmarks/no_match.py for the default bi-encoder and ColBERT models (benchmarks/no_match.md)
DEFAULT = RelevanceModel(biencoder=4.8955, colbert_per_token=12.2515, bias=-7.6444, threshold=0.5485)
