"""Training: fine-tune the ColBERT model, the bi-encoder and the cross-encoder (`radlite train`),
or adapt them to a collection without judgments (`radlite adapt`)."""

from radlite.train.config import ALIASES, KINDS, TrainConfig
from radlite.train.data import Example, TrainingData, balance_categories, combine, load_training_data
from radlite.train.mining import mine_hard_negatives
from radlite.train.trainers import train

__all__ = [
    "Example",
    "TrainingData",
    "TrainConfig",
    "KINDS",
    "ALIASES",
    "balance_categories",
    "combine",
    "load_training_data",
    "mine_hard_negatives",
    "train",
]
