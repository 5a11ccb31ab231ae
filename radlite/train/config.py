"""What a training run is asked to do: the model kind, its base, and the recipe's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from radlite.signals import BIENCODER, COLBERT, CROSSENCODER

KINDS = (COLBERT, BIENCODER, CROSSENCODER)  # the models radlite trains, named as in radlite.signals
ALIASES = {"reranker": CROSSENCODER}  # the name radlite 0.1 used for the cross-encoder
MARKER = "radlite_model.json"


@dataclass
class TrainConfig:
    kind: str
    base: str = "default"
    epochs: float | None = None  # default 4 for the retrievers, 2 for the cross-encoder (3 pairs per query)
    batch_size: int = 32
    learning_rate: float | None = None  # per kind: 3e-5 ColBERT, 2e-5 bi-encoder and cross-encoder
    max_steps: int | None = None
    num_negatives: int = 1
    easy_negatives: int | None = None  # random negatives per query; default 1 for the cross-encoder, 0 otherwise
    mining_depth: int = 100
    margin: float = 0.05
    guard: str = "default"  # bi-encoder that screens mined negatives; "none" turns the guard off
    guard_reranker: str | None = None  # a trained cross-encoder screens them instead
    balance: bool = True
    loss: str = "binary"  # reranker: binary, listwise, or distill (listwise against judgments + the first stage)
    keep_layers: int | list[int] | None = (
        None  # reranker: the bottom N layers, or these layer indices (a faster student)
    )
    related_in_list: int = 2  # distill: judged-related texts put in each list (graded targets)
    teacher_mix: float = 0.5  # distill: share of the target taken from the first stage's scores
    teacher_temperature: float = 0.5  # distill: softmax temperature of the teacher's summed normalised scores
    teacher_depth: int = 30  # distill: the teacher's candidates per query
    train_layers: int | None = None  # train only the top N transformer layers (plus head / projection)
    max_length: int = 256  # document tokens (ColBERT, bi-encoder) or pair tokens (cross-encoder)
    query_length: int = 32  # ColBERT query tokens (expanded with [MASK])
    warmup_ratio: float = 0.1
    eval_steps: int | None = None  # evaluate every N steps instead of every epoch
    dev_candidates: int = 10  # cross-encoder dev: rerank BM25's top N
    seed: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = ALIASES.get(self.kind, self.kind)

    def n_epochs(self) -> float:
        """Epochs to run: `epochs`, or 4 (2 for the cross-encoder)."""
        return self.epochs if self.epochs is not None else (2 if self.kind == CROSSENCODER else 4)

    def easy(self) -> int:
        """Random negatives per query: `easy_negatives`, or 1 for the cross-encoder, 0 otherwise."""
        return self.easy_negatives if self.easy_negatives is not None else int(self.kind == CROSSENCODER)

    def lr(self) -> float:
        """The learning rate: `learning_rate`, or 3e-5 for ColBERT, 2e-5 otherwise."""
        return self.learning_rate or (3e-5 if self.kind == COLBERT else 2e-5)


# -- models -----------------------------------------------------------------------------------
