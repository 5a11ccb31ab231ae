"""`radlite train` and `radlite adapt`: fine-tune a model on judged pairs, or adapt it to a collection."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from radlite.cli._common import command, err, out, safe
from radlite.signals import COLBERT


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("adapt")(adapt_cmd)


def _run_training(cfg, data, out_dir: Path, dev, resume: bool, keep_checkpoints: bool) -> None:
    from radlite.train import train

    err.print(f"training {cfg.kind} from {safe(cfg.base)} on {safe(data.name)}: {len(data.examples)} queries")
    info = train(cfg, data, out_dir, dev=dev, resume=resume, keep_checkpoints=keep_checkpoints)
    table = Table(title=f"{cfg.kind} written to {out_dir}")
    for col in ("rows", "hard negatives", "dev metric", "before", "after", "minutes"):
        table.add_column(col)
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    table.add_row(
        str(info["rows"]),
        str(info["mining"]["mined"]),
        str(info["dev_metric"] or "-"),
        fmt(info["dev_before"]),
        fmt(info["dev_after"]),
        f"{info['train_seconds'] / 60:.1f}",
    )
    out.print(table)


_TRAIN_HELP = dict(
    base="Model to start from: 'default' (all-MiniLM-L6-v2), a local folder or a hub id.",
    epochs="Passes over the training rows.",
    max_steps="Stop after this many optimiser steps (overrides --epochs).",
    dev="Dataset whose dev split selects the best checkpoint: 'radbench9' or a BEIR folder with qrels/dev.tsv.",
    num_negatives="BM25 hard negatives per query (in-batch negatives come on top for the retrievers).",
    margin="Skip mined candidates the guard scores above the positive's score minus this margin.",
    guard="Bi-encoder that screens mined negatives for false negatives ('none' to skip).",
    guard_reranker="A trained cross-encoder to screen negatives instead of the bi-encoder.",
    loss="Cross-encoder loss: binary (pointwise BCE), listwise (ListNet), or distill (listwise against the "
    "judgments mixed with the fused first stage's scores).",
    train_layers="Train only the top N transformer layers and the head (faster, smaller deltas).",
)


@command
def train_cmd(
    kind: str = typer.Argument(..., help="colbert, biencoder or crossencoder (reranker: the same)."),
    data: List[str] = typer.Option(
        ...,
        "--data",
        help="BEIR folder with qrels/train.tsv, JSONL of query/positive, or 'radbench9'. Repeat to combine.",
    ),
    out_dir: Path = typer.Option(
        ..., "--out", help="Model folder to write (standard sentence-transformers / PyLate format)."
    ),
    base: str = typer.Option("default", help=_TRAIN_HELP["base"]),
    epochs: Optional[float] = typer.Option(None, min=0.01, help=_TRAIN_HELP["epochs"] + " Default 4 (crossencoder 2)."),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help=_TRAIN_HELP["max_steps"]),
    dev: Optional[str] = typer.Option(None, help=_TRAIN_HELP["dev"]),
    corpus: Optional[Path] = typer.Option(
        None, help="Collection for JSONL data whose positives/negatives are document ids."
    ),
    split: str = typer.Option("train", help="Split of a BEIR folder or radbench9 to train on."),
    sample: Optional[int] = typer.Option(None, min=1, help="Use at most this many queries of each --data (seeded)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 3e-5 ColBERT, 2e-5 others)."),
    num_negatives: int = typer.Option(1, min=0, help=_TRAIN_HELP["num_negatives"]),
    easy_negatives: Optional[int] = typer.Option(
        None, min=0, help="Random negatives per query (default 1 for the crossencoder, 0 for retrievers)."
    ),
    margin: float = typer.Option(0.05, help=_TRAIN_HELP["margin"]),
    guard: str = typer.Option("default", help=_TRAIN_HELP["guard"]),
    guard_reranker: Optional[str] = typer.Option(None, help=_TRAIN_HELP["guard_reranker"]),
    balance: bool = typer.Option(True, help="Sample every category equally often."),
    loss: str = typer.Option("binary", help=_TRAIN_HELP["loss"]),
    train_layers: Optional[int] = typer.Option(None, min=1, help=_TRAIN_HELP["train_layers"]),
    keep_layers: Optional[int] = typer.Option(
        None, min=1, help="Reranker: keep only the bottom N layers of the base (a smaller, faster student)."
    ),
    max_length: int = typer.Option(256, min=16, max=512, help="Document (or query+document pair) tokens."),
    eval_steps: Optional[int] = typer.Option(
        None, min=1, help="Evaluate and checkpoint every N steps instead of every epoch."
    ),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(True, help="Resume from the checkpoints of an interrupted identical run."),
    keep_checkpoints: bool = typer.Option(False, help="Keep OUT.checkpoints/ after success."),
):
    """Fine-tune a ColBERT model, a bi-encoder or a cross-encoder with BM25 hard negatives."""
    from radlite.train import TrainConfig, combine, load_training_data

    cfg = TrainConfig(
        kind=kind,
        base=base,
        epochs=epochs,
        batch_size=batch_size,
        max_steps=max_steps,
        learning_rate=lr,
        num_negatives=num_negatives,
        margin=margin,
        guard=guard,
        guard_reranker=guard_reranker,
        balance=balance,
        loss=loss,
        train_layers=train_layers,
        max_length=max_length,
        eval_steps=eval_steps,
        seed=seed,
        easy_negatives=easy_negatives,
        keep_layers=keep_layers,
    )
    parts = [load_training_data(d, split=split, corpus=corpus, sample=sample, seed=seed) for d in data]
    _run_training(cfg, combine(parts), out_dir, dev, resume, keep_checkpoints)


@command
def adapt_cmd(
    corpus: Path = typer.Argument(..., help="The collection to adapt to (any corpus `radlite index` reads)."),
    out_dir: Path = typer.Option(..., "--out", help="Model folder to write."),
    kind: str = typer.Option(COLBERT, help="colbert, biencoder or crossencoder (reranker: the same)."),
    base: str = typer.Option("default", help=_TRAIN_HELP["base"]),
    epochs: float = typer.Option(1, min=0.01, help=_TRAIN_HELP["epochs"]),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help=_TRAIN_HELP["max_steps"]),
    max_examples: Optional[int] = typer.Option(2000, min=1, help="At most this many pseudo-queries (seeded sample)."),
    dev: Optional[str] = typer.Option(None, help=_TRAIN_HELP["dev"]),
    lr: Optional[float] = typer.Option(None, "--lr"),
    num_negatives: int = typer.Option(1, min=0, help=_TRAIN_HELP["num_negatives"]),
    margin: float = typer.Option(0.05, help=_TRAIN_HELP["margin"]),
    guard: str = typer.Option("default", help=_TRAIN_HELP["guard"]),
    train_layers: Optional[int] = typer.Option(None, min=1, help=_TRAIN_HELP["train_layers"]),
    max_length: int = typer.Option(256, min=16, max=512),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(True),
    keep_checkpoints: bool = typer.Option(False),
):
    """Adapt a model to a collection without judgments: titles and sentences become pseudo-queries.

    A reranker starts from the shipped cross-encoder and learns listwise from the pseudo-queries and the
    collection's own fused first stage (BM25 + bi-encoder + ColBERT) as teacher."""
    from radlite.train import TrainConfig
    from radlite.train.adapt import adapt_settings, pseudo_queries

    how = adapt_settings(kind, base, num_negatives, max_length)  # kind, base, loss, num_negatives, max_length
    cfg = TrainConfig(
        **how,
        epochs=epochs,
        batch_size=batch_size,
        max_steps=max_steps,
        learning_rate=lr,
        margin=margin,
        guard=guard,
        train_layers=train_layers,
        seed=seed,
    )
    data = pseudo_queries(corpus, seed=seed, max_examples=max_examples)
    _run_training(cfg, data, out_dir, dev, resume, keep_checkpoints)
