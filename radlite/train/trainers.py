"""Fine-tune the three models with the libraries' own trainers.

- ColBERT: PyLate's `Contrastive` loss (InfoNCE over in-batch and hard negatives, MaxSim scores)
  with `SentenceTransformerTrainer` and PyLate's collator;
- bi-encoder: sentence-transformers' `MultipleNegativesRankingLoss` (InfoNCE, in-batch plus hard
  negatives, scale 20);
- cross-encoder: `CrossEncoderTrainer` with `BinaryCrossEntropyLoss` (positive and hard-negative
  pairs) or `ListNetLoss` (listwise: the positive and its negatives as one list).

Batches never hold the same text twice. (A passage judged partly relevant to one query can still
be another query's in-batch negative: the sampler only removes exact duplicates.) With `--dev`, the model is
evaluated before training, at each epoch (or every `eval_steps`) and at the end; the best
checkpoint is the one kept. Checkpoints go to `<out>.checkpoints/`, so an interrupted run
resumes with the same command; the final folder is written atomically and is a standard
sentence-transformers / PyLate / CrossEncoder folder plus `radlite_model.json` (trained: true,
the recipe, dev metrics, training time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from radlite.errors import RadliteError
from radlite.fsutil import replace_folder, write_atomic
from radlite.signals import COLBERT, CROSSENCODER
from radlite.train.config import KINDS, MARKER, TrainConfig
from radlite.train.data import Example, TrainingData, balance_categories
from radlite.train.dev import dev_evaluator, primary_metric
from radlite.train.layers import base_path, load_saved, load_trainable
from radlite.train.teacher import distill_targets

logger = logging.getLogger(__name__)


def training_rows(examples: list[Example], cfg: TrainConfig) -> list[dict]:
    """The rows the library's trainer reads: one per example (query, positive, its negatives) for the retrievers
    and the listwise losses, one per pair for the binary cross-encoder loss."""
    rows = []
    for ex in examples:
        negs = ex.negatives[: cfg.num_negatives]
        if len(negs) < cfg.num_negatives:
            continue  # every row needs the same columns
        if cfg.kind == CROSSENCODER:
            negs = negs + ex.easy[: cfg.easy()]
        if cfg.kind == CROSSENCODER and cfg.loss == "distill":
            related = [r for r in sorted(ex.related) if r not in ex.positives][: cfg.related_in_list]
            docs = [ex.positives[0], *related, *negs]
            targets = distill_targets(ex, docs, mix=cfg.teacher_mix, temperature=cfg.teacher_temperature)
            # ListNet's target is softmax(labels): log-probabilities make it exactly this distribution
            rows.append({"query": ex.query, "docs": docs, "labels": [math.log(max(t, 1e-6)) for t in targets]})
        elif cfg.kind == CROSSENCODER and cfg.loss == "listwise":
            rows.append({"query": ex.query, "docs": [ex.positives[0], *negs], "labels": [1.0] + [0.0] * len(negs)})
        elif cfg.kind == CROSSENCODER:
            rows.append({"query": ex.query, "passage": ex.positives[0], "label": 1.0})
            rows.extend({"query": ex.query, "passage": n, "label": 0.0} for n in negs)
        else:
            row = {"query": ex.query, "positive": ex.positives[0]}
            row.update({f"negative_{i + 1}": n for i, n in enumerate(negs)})
            rows.append(row)
    if not rows:
        raise RadliteError(
            "no training rows: no example has enough negatives (try num_negatives 0)", param="num_negatives"
        )
    return rows


# -- the run ----------------------------------------------------------------------------------


def train(
    cfg: TrainConfig,
    data: TrainingData,
    out: str | Path,
    dev: str | None = None,
    resume: bool = True,
    keep_checkpoints: bool = False,
    progress: bool = True,
) -> dict:
    """Mine, train, evaluate, keep the best checkpoint, write the model folder atomically."""
    import torch
    from datasets import Dataset

    from radlite.train import mining

    if cfg.kind not in KINDS:
        raise RadliteError(f"unknown model kind {cfg.kind!r}; choose from {', '.join(KINDS)}")
    if cfg.kind == CROSSENCODER and cfg.loss not in ("binary", "listwise", "distill"):
        raise RadliteError(f"unknown reranker loss {cfg.loss!r}; choose binary, listwise or distill")
    if cfg.loss == "distill" and cfg.kind != CROSSENCODER:
        raise RadliteError("the distill loss trains a cross-encoder (kind crossencoder)")
    if cfg.keep_layers is not None and cfg.kind != CROSSENCODER:
        raise RadliteError("keep_layers makes a smaller cross-encoder; it applies to kind crossencoder only")
    base_path(cfg.base)  # fail before mining if a model cannot be found
    for name in (cfg.guard_reranker, None if cfg.guard == "none" else cfg.guard):
        if name:
            base_path(name)
    out = Path(out).expanduser().resolve()
    if out.exists() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise RadliteError(
            f"{out} exists and is not a model radlite trained; choose another output folder", param="out"
        )
    work = out.with_name(out.name + ".checkpoints")
    run_id = _run_id(cfg, data, dev)
    started = time.time()

    # mining and the row order are deterministic, and cached so a resumed run sees the same rows
    rows_file = work / f"rows-{run_id}.jsonl"
    mining_file = work / f"mining-{run_id}.json"
    if resume and rows_file.is_file() and mining_file.is_file():
        rows = [json.loads(line) for line in rows_file.read_text(encoding="utf-8").splitlines()]
        stats = json.loads(mining_file.read_text(encoding="utf-8"))
    else:
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        guard = None
        if cfg.loss == "distill":  # the fused first stage picks and scores the negatives: no BM25 mining, no guard
            from radlite.train.teacher import teach

            stats = teach(data, cfg.teacher_depth, cfg.num_negatives, progress=progress, seed=cfg.seed)
        elif cfg.num_negatives > 0:
            if cfg.guard_reranker:
                guard = mining.crossencoder_guard(base_path(cfg.guard_reranker))
            elif cfg.guard != "none":
                guard = mining.biencoder_guard(base_path(cfg.guard))
        if cfg.loss != "distill":
            stats = mining.mine_hard_negatives(data, cfg.num_negatives, cfg.mining_depth, cfg.margin, guard, progress)
        mining.fill_random_negatives(data.examples, data.collection, cfg.num_negatives, cfg.seed)
        if cfg.kind == CROSSENCODER and cfg.easy():
            mining.add_easy_negatives(data.examples, data.collection, cfg.easy(), cfg.seed)
        examples = balance_categories(data.examples, cfg.seed) if cfg.balance else list(data.examples)
        rows = training_rows(examples, cfg)
        write_atomic(mining_file, json.dumps(stats))
        write_atomic(rows_file, "".join(json.dumps(r) + "\n" for r in rows))
        del guard

    model = load_trainable(cfg)
    evaluator = dev_evaluator(cfg, dev) if dev else None
    before, metric = {}, None
    if evaluator is not None:
        before = evaluator(model)
        metric = primary_metric(evaluator, before)
        logger.info("dev %s before training: %.4f", metric, before[metric])
        if progress:
            print(f"dev {metric} before training: {before[metric]:.4f}", flush=True)

    trainer = _trainer(cfg, model, Dataset.from_list(rows), evaluator, metric, work / "checkpoints")
    # a checkpoint is complete once the Trainer wrote trainer_state.json (its last file); an interrupted save is dropped
    found = []
    for c in sorted((work / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])):
        if (c / "trainer_state.json").is_file():
            found.append(c)
        else:
            shutil.rmtree(c, ignore_errors=True)
    checkpoint = str(found[-1]) if resume and found else None
    if checkpoint and progress:
        print(f"resuming from {checkpoint}", flush=True)
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except KeyboardInterrupt:
        raise RadliteError(
            f"training interrupted; run the same command again to resume from the last checkpoint in {work}"
        ) from None
    # the best checkpoint is reloaded with the library's own loader: the Trainer's load_best_model_at_end
    # restores a state dict non-strictly and silently keeps the last step's LayerNorms (gamma/beta names)
    best = getattr(trainer.state, "best_model_checkpoint", None)
    model = load_saved(cfg.kind, best) if best and Path(best).is_dir() else trainer.model
    after = evaluator(model) if evaluator is not None else {}
    seconds = time.time() - started

    if metric and after.get(metric) is not None and after[metric] < before[metric]:
        logger.warning(
            "dev %s fell from %.4f to %.4f: the trained model is worse than its base",
            metric,
            before[metric],
            after[metric],
        )
        if progress:
            print(
                f"warning: dev {metric} fell from {before[metric]:.4f} to {after[metric]:.4f}; the trained model is "
                "worse than its base",
                flush=True,
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    tmp = holder / "model"  # mkdtemp folders are private (0700); the model folder gets normal permissions
    try:
        tmp.mkdir()
        model.save(str(tmp)) if hasattr(model, "save") else model.save_pretrained(str(tmp))
        info = {
            "trained": True,
            "kind": cfg.kind,
            "base": cfg.base,
            "data": data.name,
            "examples": len(data.examples),
            "rows": len(rows),
            "mining": stats,
            "config": {k: v for k, v in asdict(cfg).items() if k != "extra"},
            "dev": dev,
            "dev_metric": metric,
            "dev_before": before.get(metric) if metric else None,
            "dev_after": after.get(metric) if metric else None,
            "dev_reference": {k: v for k, v in before.items() if "base" in k} or None,
            "best_checkpoint": getattr(trainer.state, "best_model_checkpoint", None),
            "resumed_from": checkpoint,
            "train_seconds": round(seconds, 1),
            "device": str(getattr(model, "device", "cpu")),
            "torch_threads": torch.get_num_threads(),
            "note": f"{cfg.kind} fine-tuned by radlite from {cfg.base} on {data.name}",
        }
        (tmp / MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    if not keep_checkpoints:
        shutil.rmtree(work, ignore_errors=True)
    return info


def _trainer(cfg: TrainConfig, model, dataset, evaluator, metric, checkpoints: Path):
    import torch

    steps_per_epoch = max(1, len(dataset) // cfg.batch_size)
    total = cfg.max_steps or int(steps_per_epoch * cfg.n_epochs())
    if cfg.eval_steps or cfg.max_steps:
        every = cfg.eval_steps or cfg.max_steps
        schedule = dict(
            eval_strategy="steps" if evaluator else "no", eval_steps=every, save_strategy="steps", save_steps=every
        )
    else:
        schedule = dict(eval_strategy="epoch" if evaluator else "no", save_strategy="epoch")
    common = dict(
        output_dir=str(checkpoints),
        num_train_epochs=cfg.n_epochs(),
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        learning_rate=cfg.lr(),
        warmup_steps=int(cfg.warmup_ratio * total),
        seed=cfg.seed,
        data_seed=cfg.seed,
        save_total_limit=2,
        load_best_model_at_end=False,
        metric_for_best_model=f"eval_{metric}" if metric else None,
        greater_is_better=True,
        logging_steps=max(1, min(50, total // 10)),
        report_to="none",
        disable_tqdm=False,
        dataloader_drop_last=False,
        dataloader_pin_memory=False,
        # mixed precision where a GPU supports it (the CPU path stays fp32, as measured)
        bf16=bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        **schedule,
    )
    if cfg.kind == CROSSENCODER:
        from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, ListNetLoss

        loss = ListNetLoss(model) if cfg.loss in ("listwise", "distill") else BinaryCrossEntropyLoss(model)
        args = CrossEncoderTrainingArguments(**common)
        return CrossEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator)

    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.training_args import BatchSamplers

    args = SentenceTransformerTrainingArguments(batch_sampler=BatchSamplers.NO_DUPLICATES, **common)
    if cfg.kind == COLBERT:
        from pylate import losses, utils

        return SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            evaluator=evaluator,
            loss=losses.Contrastive(model=model),
            data_collator=utils.ColBERTCollator(model.tokenize),
        )
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    return SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, evaluator=evaluator, loss=MultipleNegativesRankingLoss(model)
    )


def _run_id(cfg: TrainConfig, data: TrainingData, dev: str | None) -> str:
    h = hashlib.sha256(
        json.dumps([asdict(cfg), data.name, len(data.examples), dev], sort_keys=True, default=str).encode()
    )
    for ex in data.examples:  # every text that shapes the rows: a changed file never reuses stale cached rows
        h.update(json.dumps([ex.query, ex.positives, ex.negatives, sorted(ex.related), ex.category]).encode())
    for text in data.collection:
        h.update(text.encode())
    return h.hexdigest()[:12]
