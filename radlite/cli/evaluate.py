"""`radlite eval` and `radlite tune`: measure an index on judged queries, fit its fusion on dev."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from radlite.cli._common import command, err, json_text, out, print_notes, safe
from radlite.errors import RadliteError


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("tune")(tune_cmd)


@command
def eval_cmd(
    index: Path = typer.Argument(..., help="Index built from the dataset's corpus."),
    dataset: str = typer.Option(
        ..., help="'radbench9' or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."
    ),
    split: str = typer.Option("test"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    report: Optional[Path] = typer.Option(None, help="Folder for report.md, metrics.json and TREC run files."),
    candidates: int = typer.Option(50, min=1, max=1000),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip checking the index files against their checksums."),
    trust_model: List[str] = typer.Option(
        [], "--trust-model", help="A model folder (or a parent) the index may name; it can run code. Repeat."
    ),
):
    """Evaluate every stage and fusion of an index on a dataset's judged queries."""
    from rich.progress import Progress

    from radlite.eval import harness
    from radlite.eval.datasets import load_dataset
    from radlite.search.engine import RadLITESearch

    data = load_dataset(dataset, split)
    engine = RadLITESearch.load(index, exact=exact, verify=not no_verify, trust_models=trust_model)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)

        def progress(name, done, total):
            bar.update(task, description=f"{name}", completed=done, total=total)

        results = harness.run_all(engine, data, top_k=50, candidates=candidates, progress=progress)
    summary = harness.summary(results, data)
    summary["models"] = {
        k: {"name": m.name, "sha256": m.sha256, "trained": m.trained} for k, m in engine.models.items()
    }
    if report is not None:
        from radlite.eval.report import write_report

        write_report(report, results, summary)
        err.print(f"report written to {safe(str(report))}")
    if as_json:
        out.print_json(json_text(summary))
    else:
        out.print(harness.markdown(summary), markup=False, highlight=False)
    print_notes(engine)


@command
def tune_cmd(
    index: Path = typer.Argument(..., help="Index built from the dataset's corpus."),
    dataset: Optional[str] = typer.Option(None, help="'radbench9' or a BEIR folder with qrels/dev.tsv."),
    split: str = typer.Option("dev", help="The split to fit on; never 'test'."),
    candidates: int = typer.Option(50, min=1, max=1000),
    rollback: bool = typer.Option(False, "--rollback", help="Put back the fusion the last tune replaced."),
    feedback: bool = typer.Option(
        False, "--feedback", help="Fit on the relevance marks of the index's users (see `radlite feedback`)."
    ),
    folds: int = typer.Option(5, min=2, max=20, help="With --feedback: cross-validation folds."),
    min_queries: int = typer.Option(
        10, min=2, help="With --feedback: the fewest queries to fit on (one counts if a result is marked relevant)."
    ),
):
    """Fit fusion weights, RRF k and the reranker temperature on dev (or on users' feedback); save them in the
    index (the setting they replace is kept for --rollback)."""
    from rich.progress import Progress

    from radlite.eval import tune as tuning
    from radlite.eval.datasets import load_dataset

    if rollback:
        back = tuning.rollback_index(index)
        out.print(
            f"rolled back to: method {back.method} ({back.normalization}), weights {back.weights}, "
            f"temperature {back.temperature:.3f}",
            highlight=False,
        )
        return
    if feedback:
        if dataset is not None:
            raise RadliteError("choose --feedback or --dataset, not both", param="dataset")
        return _tune_feedback(index, candidates, folds, min_queries)
    if dataset is None:
        raise RadliteError(
            "give the judged queries to fit on with --dataset (or --feedback, or --rollback)", param="dataset"
        )
    dev = load_dataset(dataset, split)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"searching {split} queries", total=len(dev.queries))
        best, info, engine = tuning.tune_index(
            index, dev, candidates, progress=lambda d, t: bar.update(task, completed=d)
        )
    before = engine.index.config.fusion
    out.print(
        f"{split}: nDCG@10 {info['dev_ndcg@10_before']:.4f} -> {info['dev_ndcg@10_after']:.4f} "
        f"({info['settings_tried']} settings tried on the same candidates)",
        highlight=False,
    )
    out.print(
        f"saved: method {best.method}, weights {best.weights}, rrf_k {best.rrf_k}, temperature {best.temperature:.3f}",
        highlight=False,
    )
    try:
        test = load_dataset(dataset, "test")
    except RadliteError:
        err.print("no test split to report")
        return
    test_tables = tuning.candidate_tables(engine, test, candidates)
    out.print(
        f"test: nDCG@10 {tuning.mean_ndcg(test_tables, test.qrels, before):.4f} (before) -> "
        f"{tuning.mean_ndcg(test_tables, test.qrels, best):.4f} (after); reported only, never fitted",
        highlight=False,
    )


def _tune_feedback(index: Path, candidates: int, folds: int, min_queries: int) -> None:
    from rich.progress import Progress

    from radlite.eval import tune as tuning

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("searching the marked queries", total=None)
        r = tuning.tune_feedback_index(
            index, candidates, folds, min_queries, progress=lambda d, t: bar.update(task, completed=d, total=t)
        )
    left = [
        f"{n} {what.replace('_', ' ')}"
        for what, n in r.items()
        if what.startswith(("marks_of", "queries_without")) and n
    ]
    out.print(
        f"feedback: {r['queries']} queries, {r['judgments']} judgments"
        + (f" (left out: {'; '.join(left)})" if left else ""),
        highlight=False,
    )
    out.print(
        f"held out ({r['folds']}-fold cross-validation): nDCG@10 {r['heldout_ndcg@10_before']:.4f} (current) -> "
        f"{r['heldout_ndcg@10_after']:.4f} (fitted); {r['queries_better']} queries better, {r['queries_worse']} worse",
        highlight=False,
    )
    f = r["fusion"]
    if r["saved"]:
        out.print(
            f"saved: method {f.method} ({f.normalization}), weights {f.weights}, rrf_k {f.rrf_k}, temperature "
            f"{f.temperature:.3f}; `radlite tune INDEX --rollback` restores the previous setting",
            highlight=False,
        )
    else:
        out.print("kept the current fusion: fitting did not help on held-out feedback", highlight=False)
