"""Command line: thin commands over RadLITESearch. Errors print one line and exit non-zero."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from radlite.errors import RadliteError
from radlite.index.store import writer_lock

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="radlite: multi-stage search over radiology knowledge.")
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


def _quiet_libraries(verbose: bool) -> None:
    """Model libraries print load reports and warnings on every load; keep the CLI readable."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    import warnings

    warnings.filterwarnings("ignore")
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
    except ImportError:
        pass


def command(fn):
    """Run a command, turning radlite's errors into one line on stderr and exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RadliteError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2)
        except OSError as exc:  # permissions, full disk, a file where a folder should be
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"[red]error:[/red] {escape((exc.strerror or str(exc)) + where)}", highlight=False)
            raise typer.Exit(2)
        except KeyboardInterrupt:
            err.print("interrupted; the index folder is unchanged (for a Qdrant index, re-run an interrupted "
                      "add or delete to bring its collection back in step)")
            raise typer.Exit(130)
    return wrapper


@app.callback()
def main_options(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does.")):
    _quiet_libraries(verbose)


def _signals(value: Optional[str]) -> Optional[list[str]]:
    if value is None:
        return None
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    if not chosen:
        raise RadliteError("--signals is empty; name at least one of bm25, biencoder, colbert")
    return chosen


def _check_writable(output: Path) -> None:
    """Fail before hours of encoding, not after, if the index cannot be written there."""
    parent = output if output.exists() else output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if output.exists() and not output.is_dir():
        raise RadliteError(f"{output} exists and is not a directory")
    if not os.access(parent, os.W_OK):
        raise RadliteError(f"cannot write the index: no write permission in {parent}")


# passage encoding on Ray, the same for `index` and `add`
RAY_OPTION = typer.Option(None, "--ray", metavar="[ADDRESS]",
                          help="Encode passages on Ray Data: --ray alone (or --ray local) starts a local Ray instance, --ray ADDRESS joins a cluster.")
RAY_ACTORS_OPTION = typer.Option(None, min=1, help="Model replicas on Ray (default: one per CPU).")


@app.command("index")
@command
def index_cmd(
    corpus: Path = typer.Argument(..., help="JSONL file, BEIR folder, JSON array, or folder of .txt/.md files."),
    output: Path = typer.Option(..., "--output", "-o", help="Index directory to create or replace (atomically)."),
    text_field: Optional[str] = typer.Option(None, help="Field holding the text (default: 'text' for JSONL, 'content' for a JSON array)."),
    signals: str = typer.Option("bm25,biencoder,colbert", help="First-stage indexes to build."),
    biencoder: str = typer.Option("default", help="Bi-encoder: hub id, local folder or 'default'."),
    colbert_model: str = typer.Option("default", help="ColBERT model: hub id, local folder or 'default'."),
    reranker: str = typer.Option("default", help="Cross-encoder used by searches of this index."),
    passage_words: int = typer.Option(128, help="Words per passage for long documents."),
    overlap_words: int = typer.Option(32, help="Words shared by consecutive passages."),
    batch_size: int = typer.Option(32, min=1),
    backend: str = typer.Option("local", help="Where the signals live: 'local' (the index folder) or 'qdrant'."),
    qdrant_url: Optional[str] = typer.Option(None, help="Qdrant server or cluster URL (with --backend qdrant; API key from $QDRANT_API_KEY)."),
    qdrant_path: Optional[Path] = typer.Option(None, help="Folder for qdrant-client's embedded local mode (with --backend qdrant)."),
    qdrant_collection: str = typer.Option("radlite", help="Collection name prefix (a build stamp is appended)."),
    shards: int = typer.Option(1, min=1, help="Qdrant shards of the collection (applies on a cluster)."),
    replicas: int = typer.Option(1, min=1, help="Qdrant replication factor (applies on a cluster)."),
    bm25_avgdl_tolerance: float = typer.Option(0.0, help="Qdrant: rewrite BM25 weights on add/delete only when the average passage length moved more than this (0: always, exact)."),
    ray: Optional[str] = RAY_OPTION,
    ray_actors: Optional[int] = RAY_ACTORS_OPTION,
):
    """Index a collection with every first-stage signal."""
    from radlite.config import IndexConfig
    from radlite.search.engine import RadLITESearch

    _check_writable(output)
    chosen = _signals(signals)
    docs = _load_documents(corpus, text_field)
    config = IndexConfig()
    config.chunking.passage_words, config.chunking.overlap_words = passage_words, overlap_words
    if not 0 <= overlap_words < passage_words:
        raise RadliteError("--overlap-words must be smaller than --passage-words")
    settings = _backend_settings(backend, qdrant_url, qdrant_path, qdrant_collection, shards, replicas, bm25_avgdl_tolerance)
    err.print(f"indexing {len(docs)} documents from {escape(str(corpus))}"
              + (f" into Qdrant at {escape(str(qdrant_url or qdrant_path))}" if settings else "")
              + (f", encoding on Ray ({escape(ray)})" if ray else ""))
    start = time.perf_counter()
    engine = RadLITESearch(biencoder=biencoder, colbert=colbert_model, reranker=reranker, signals=chosen,
                           config=config, batch_size=batch_size, show_progress=True, backend=settings, ray=ray,
                           ray_actors=ray_actors)
    engine.index_corpus(docs)
    try:
        with writer_lock(output):
            engine.save(output)
    except BaseException:
        _drop_unless_live(engine.index, output)  # the new collection, unless the new catalog did go live
        raise
    idx = engine.index
    err.print(f"wrote {escape(str(output))}: {len(idx.documents)} documents, {len(idx.passages)} passages, "
              f"signals {', '.join(idx.signals)} in {time.perf_counter() - start:.1f} s"
              + (f" ({idx.backend.describe()})" if idx.backend.describe() else ""))
    _print_notes(engine)


def _backend_settings(backend, url, path, collection, shards, replicas, tolerance):
    if backend == "local":
        if url or path:
            raise RadliteError("--qdrant-url / --qdrant-path need --backend qdrant")
        return None
    if backend != "qdrant":
        raise RadliteError(f"unknown --backend {backend!r}; choose 'local' or 'qdrant'")
    from radlite.backends.registry import qdrant_settings

    return qdrant_settings(url, path, collection, shards, replicas, tolerance)


def _drop_unless_live(index, output: Path) -> None:
    index.drop_store_unless_live(output)


def _load_documents(corpus: Path, text_field: Optional[str]):
    """A corpus path, or the name of a bundled dataset (e.g. radbench9)."""
    from radlite.corpus import load_corpus
    from radlite.eval.datasets import BUNDLED, load_dataset

    if str(corpus) in BUNDLED and not corpus.exists():
        return load_dataset(str(corpus)).corpus
    return load_corpus(corpus, text_field=text_field)


@app.command("eval")
@command
def eval_cmd(
    index: Path = typer.Argument(..., help="Index built from the dataset's corpus."),
    dataset: str = typer.Option(..., help="'radbench9' or a BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)."),
    split: str = typer.Option("test"),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    report: Optional[Path] = typer.Option(None, help="Folder for report.md, metrics.json and TREC run files."),
    candidates: int = typer.Option(50, min=1, max=1000),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
):
    """Evaluate every stage and fusion of an index on a dataset's judged queries."""
    from rich.progress import Progress

    from radlite.eval import harness
    from radlite.eval.datasets import load_dataset
    from radlite.search.engine import RadLITESearch

    data = load_dataset(dataset, split)
    engine = RadLITESearch.load(index, exact=exact)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("evaluating", total=None)

        def progress(name, done, total):
            bar.update(task, description=f"{name}", completed=done, total=total)

        results = harness.run_all(engine, data, top_k=50, candidates=candidates, progress=progress)
    summary = harness.summary(results, data)
    summary["models"] = {k: {"name": m.name, "sha256": m.sha256, "trained": m.trained} for k, m in engine.models.items()}
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        (report / "metrics.json").write_text(json.dumps(summary, indent=2))
        (report / "report.md").write_text(harness.markdown(summary))
        for name, res in results.items():
            slug = name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "_")
            with (report / f"run.{slug}.trec").open("w") as fh:
                for qid, docs in res.run.items():
                    for rank, (doc, score) in enumerate(sorted(docs.items(), key=lambda kv: -kv[1]), start=1):
                        fh.write(f"{qid} Q0 {doc} {rank} {score:.6f} radlite-{slug}\n")
        from radlite.eval import plots

        plots.by_category(summary, report / "ndcg_by_category.png")
        plots.by_category(summary, report / "ndcg_by_style.png", metric_key="by_style")
        plots.latency(summary, report / "latency_by_stage.png")
        fused = results.get("fused (seed weights)")
        if fused is not None:
            plots.reliability(*fused.calibration, report / "reranker_reliability.png")
        err.print(f"report written to {escape(str(report))}")
    if as_json:
        out.print_json(json.dumps(summary))
    else:
        out.print(harness.markdown(summary), markup=False, highlight=False)
    _print_notes(engine)


@app.command("tune")
@command
def tune_cmd(
    index: Path = typer.Argument(..., help="Index built from the dataset's corpus."),
    dataset: str = typer.Option(..., help="'radbench9' or a BEIR folder with qrels/dev.tsv."),
    split: str = typer.Option("dev", help="The split to fit on; never 'test'."),
    candidates: int = typer.Option(50, min=1, max=1000),
):
    """Fit fusion weights, RRF k and the reranker temperature on dev; save them in the index."""
    from rich.progress import Progress

    from radlite.eval import harness
    from radlite.eval import tune as tuning
    from radlite.eval.datasets import load_dataset
    from radlite.index import SearchIndex
    from radlite.search.engine import RadLITESearch

    if split == "test":
        raise RadliteError("refusing to tune on the test split: fit on 'dev' (or 'train') and evaluate on test")
    dev = load_dataset(dataset, split)
    with writer_lock(index) if index.is_dir() else _no_lock():
        engine = RadLITESearch.load(index)
        harness.check_coverage(engine, dev)
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task(f"searching {split} queries", total=len(dev.queries))
            tables = tuning.candidate_tables(engine, dev, candidates, progress=lambda d, t: bar.update(task, completed=d))
        before = engine.index.config.fusion
        best, info = tuning.tune(tables, dev.qrels, before)
        updated = SearchIndex.load(index)
        updated.config.fusion = best
        updated.save(index)
    out.print(f"{split}: nDCG@10 {info['dev_ndcg@10_before']:.4f} -> {info['dev_ndcg@10_after']:.4f} "
              f"({info['settings_tried']} settings tried on the same candidates)", highlight=False)
    out.print(f"saved: method {best.method}, weights {best.weights}, rrf_k {best.rrf_k}, temperature {best.temperature:.3f}",
              highlight=False)
    try:
        test = load_dataset(dataset, "test")
    except RadliteError:
        err.print("no test split to report")
        return
    test_tables = tuning.candidate_tables(engine, test, candidates)
    out.print(f"test: nDCG@10 {tuning.mean_ndcg(test_tables, test.qrels, before):.4f} (before) -> "
              f"{tuning.mean_ndcg(test_tables, test.qrels, best):.4f} (after); reported only, never fitted",
              highlight=False)


_TRAIN_KINDS = {"colbert": "colbert", "biencoder": "biencoder", "reranker": "reranker", "crossencoder": "reranker"}


def _train_options(kind: str, base, epochs, batch_size, max_steps, lr, num_negatives, margin, guard, guard_reranker,
                   balance, loss, train_layers, max_length, eval_steps, seed, easy_negatives=None, keep_layers=None):
    from radlite.train import TrainConfig

    if kind not in _TRAIN_KINDS:
        raise RadliteError(f"unknown model kind {kind!r}; choose colbert, biencoder or reranker")
    return TrainConfig(kind=_TRAIN_KINDS[kind], base=base, epochs=epochs, batch_size=batch_size, max_steps=max_steps,
                       learning_rate=lr, num_negatives=num_negatives, margin=margin, guard=guard,
                       guard_reranker=guard_reranker, balance=balance, loss=loss, train_layers=train_layers,
                       max_length=max_length, eval_steps=eval_steps, seed=seed, easy_negatives=easy_negatives,
                       keep_layers=keep_layers)


def _run_training(cfg, data, out_dir: Path, dev, resume: bool, keep_checkpoints: bool) -> None:
    from radlite.train import train

    err.print(f"training {cfg.kind} from {escape(cfg.base)} on {escape(data.name)}: {len(data.examples)} queries")
    info = train(cfg, data, out_dir, dev=dev, resume=resume, keep_checkpoints=keep_checkpoints)
    table = Table(title=f"{cfg.kind} written to {out_dir}")
    for col in ("rows", "hard negatives", "dev metric", "before", "after", "minutes"):
        table.add_column(col)
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    table.add_row(str(info["rows"]), str(info["mining"]["mined"]), str(info["dev_metric"] or "-"),
                  fmt(info["dev_before"]), fmt(info["dev_after"]), f"{info['train_seconds'] / 60:.1f}")
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


@app.command("train")
@command
def train_cmd(
    kind: str = typer.Argument(..., help="colbert, biencoder or reranker."),
    data: List[str] = typer.Option(..., "--data", help="BEIR folder with qrels/train.tsv, JSONL of query/positive, or 'radbench9'. Repeat to combine."),
    out_dir: Path = typer.Option(..., "--out", help="Model folder to write (standard sentence-transformers / PyLate format)."),
    base: str = typer.Option("default", help=_TRAIN_HELP["base"]),
    epochs: Optional[float] = typer.Option(None, min=0.01, help=_TRAIN_HELP["epochs"] + " Default 4 (reranker 2)."),
    batch_size: int = typer.Option(32, "--batch-size", min=2),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help=_TRAIN_HELP["max_steps"]),
    dev: Optional[str] = typer.Option(None, help=_TRAIN_HELP["dev"]),
    corpus: Optional[Path] = typer.Option(None, help="Collection for JSONL data whose positives/negatives are document ids."),
    split: str = typer.Option("train", help="Split of a BEIR folder or radbench9 to train on."),
    sample: Optional[int] = typer.Option(None, min=1, help="Use at most this many queries of each --data (seeded)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 3e-5 ColBERT, 2e-5 others)."),
    num_negatives: int = typer.Option(1, min=0, help=_TRAIN_HELP["num_negatives"]),
    easy_negatives: Optional[int] = typer.Option(None, min=0, help="Random negatives per query (default 1 for the reranker, 0 for retrievers)."),
    margin: float = typer.Option(0.05, help=_TRAIN_HELP["margin"]),
    guard: str = typer.Option("default", help=_TRAIN_HELP["guard"]),
    guard_reranker: Optional[str] = typer.Option(None, help=_TRAIN_HELP["guard_reranker"]),
    balance: bool = typer.Option(True, help="Sample every category equally often."),
    loss: str = typer.Option("binary", help=_TRAIN_HELP["loss"]),
    train_layers: Optional[int] = typer.Option(None, min=1, help=_TRAIN_HELP["train_layers"]),
    keep_layers: Optional[int] = typer.Option(None, min=1, help="Reranker: keep only the bottom N layers of the base "
                                              "(a smaller, faster student)."),
    max_length: int = typer.Option(256, min=16, max=512, help="Document (or query+document pair) tokens."),
    eval_steps: Optional[int] = typer.Option(None, min=1, help="Evaluate and checkpoint every N steps instead of every epoch."),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(True, help="Resume from the checkpoints of an interrupted identical run."),
    keep_checkpoints: bool = typer.Option(False, help="Keep OUT.checkpoints/ after success."),
):
    """Fine-tune a ColBERT model, a bi-encoder or a cross-encoder with BM25 hard negatives."""
    from radlite.train import combine, load_training_data

    cfg = _train_options(kind, base, epochs, batch_size, max_steps, lr, num_negatives, margin, guard, guard_reranker,
                         balance, loss, train_layers, max_length, eval_steps, seed, easy_negatives, keep_layers)
    parts = [load_training_data(d, split=split, corpus=corpus, sample=sample, seed=seed) for d in data]
    _run_training(cfg, combine(parts), out_dir, dev, resume, keep_checkpoints)


@app.command("adapt")
@command
def adapt_cmd(
    corpus: Path = typer.Argument(..., help="The collection to adapt to (any corpus `radlite index` reads)."),
    out_dir: Path = typer.Option(..., "--out", help="Model folder to write."),
    kind: str = typer.Option("colbert", help="colbert, biencoder or reranker."),
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
    from radlite.train.adapt import pseudo_queries

    loss = "binary"
    if _TRAIN_KINDS.get(kind) == "reranker":
        # the cross-encoder adapts from the shipped one, listwise against the collection's own fused first stage
        from radlite.models.encoders import trained_max_length
        from radlite.models.resolve import resolve_model

        loss, num_negatives = "distill", max(num_negatives, 6)
        if base == "default":
            base = str(resolve_model("crossencoder", "default").path)
            max_length = trained_max_length(Path(base)) or max_length
    cfg = _train_options(kind, base, epochs, batch_size, max_steps, lr, num_negatives, margin, guard, None,
                         True, loss, train_layers, max_length, None, seed)
    data = pseudo_queries(corpus, seed=seed, max_examples=max_examples)
    _run_training(cfg, data, out_dir, dev, resume, keep_checkpoints)


@app.command("search")
@command
def search_cmd(
    index: Path = typer.Argument(..., help="Index directory."),
    query: str = typer.Argument(..., help="What to search for."),
    k: int = typer.Option(10, "-k", "--top-k", help="Results to return."),
    candidates: int = typer.Option(50, help="Documents passed to the cross-encoder."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of results."),
    signals: Optional[str] = typer.Option(None, help="Signals to use, e.g. 'bm25' or 'bm25,biencoder,colbert,crossencoder'."),
    method: Optional[str] = typer.Option(None, help="Fusion: 'weighted' (default) or 'rrf'."),
    no_rerank: bool = typer.Option(False, "--no-rerank", help="Skip the cross-encoder."),
    category: Optional[str] = typer.Option(None, help="Only documents of this category."),
    biencoder: Optional[str] = typer.Option(None, help="Bi-encoder (must be the one that built the index)."),
    colbert_model: Optional[str] = typer.Option(None, help="ColBERT model (must be the one that built the index)."),
    reranker: Optional[str] = typer.Option(None, help="Cross-encoder: hub id or folder (default: the index's)."),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
):
    """Search an index and show each result with every signal's score."""
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch.load(index, biencoder=biencoder, colbert=colbert_model, reranker=reranker,
                                use_reranker=not no_rerank, exact=exact)
    results = engine.search(query, top_k=k, candidates=candidates, signals=_signals(signals), method=method,
                            category=category)
    if as_json:
        out.print_json(json.dumps([r.to_dict() for r in results], ensure_ascii=False))
    else:
        _print_results(query, results)
        err.print(_timings(engine.last_timings))
    _print_notes(engine)


@app.command("serve")
@command
def serve_cmd(
    index: Path = typer.Argument(..., help="Index directory."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=1, help="Worker processes, each with its own models and index."),
    allow_writes: bool = typer.Option(False, "--allow-writes", help="Enable POST /documents and DELETE /documents/{id}."),
    max_query_chars: int = typer.Option(2000, min=1, help="Longest query accepted (characters)."),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch models instead of the int8 ONNX fast path."),
):
    """Serve the HTTP API (OpenAPI schema at /openapi.json) and the search page at /."""
    import uvicorn

    from radlite.index import read_manifest
    from radlite.serve.app import ENV, ServeConfig

    manifest = read_manifest(index)  # a clear error now rather than in every worker
    backend = manifest.get("backend") or {}
    if workers > 1 and backend.get("kind") == "qdrant" and backend.get("path"):
        raise RadliteError("this index's vectors are in qdrant-client's local mode, which one process opens at a "
                           "time: serve it with --workers 1, or build it on a Qdrant server (--qdrant-url)")
    config = ServeConfig(index_dir=str(index.resolve()), allow_writes=allow_writes, max_query_chars=max_query_chars,
                         exact=exact)
    os.environ[ENV] = config.to_env()
    err.print(f"radlite: serving {escape(str(index))} on http://{host}:{port}/ ({workers} worker(s), "
              f"writes {'allowed' if allow_writes else 'disabled'}); loading models...")
    uvicorn.run("radlite.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_graceful_shutdown=5)


@app.command("rerank-es")
@command
def rerank_es_cmd(
    query: str = typer.Argument(..., help="What to search for."),
    url: str = typer.Option(..., "--url", help="Cluster URL, e.g. http://localhost:9200."),
    index: str = typer.Option(..., "--index", help="Index (or alias, or pattern) to search."),
    engine: str = typer.Option("elasticsearch", help="'elasticsearch' or 'opensearch' (which official client to use)."),
    text_field: str = typer.Option("content", help="Field with the document text (dotted for nested)."),
    title_field: Optional[str] = typer.Option(None, help="Field with a title to read before the text."),
    size: int = typer.Option(50, min=1, max=1000, help="BM25 hits to fetch and rerank."),
    k: int = typer.Option(10, "-k", "--top-k", min=1, help="Hits to show."),
    weights: str = typer.Option("0.3,0.7", help="Weights of the normalised _score and the calibrated rerank score."),
    reranker: str = typer.Option("default", help="Cross-encoder: hub id, folder or 'default'."),
    api_key: Optional[str] = typer.Option(None, envvar="RADLITE_ES_API_KEY", help="Elasticsearch API key."),
    user: Optional[str] = typer.Option(None, envvar="RADLITE_ES_USER"),
    password: Optional[str] = typer.Option(None, envvar="RADLITE_ES_PASSWORD"),
    as_json: bool = typer.Option(False, "--json", help="Print the reranked hits as JSON."),
    exact: bool = typer.Option(False, "--exact", help="Exact PyTorch cross-encoder instead of the int8 ONNX fast path."),
):
    """BM25 query on an Elasticsearch/OpenSearch index, reranked by the cross-encoder."""
    from radlite.integrations.elastic import search_and_rerank

    try:
        w = tuple(float(x) for x in weights.split(","))
    except ValueError:
        raise RadliteError(f"--weights must be two numbers like 0.3,0.7, got {weights!r}") from None
    if len(w) != 2:
        raise RadliteError(f"--weights must be two numbers like 0.3,0.7, got {weights!r}")
    res = search_and_rerank(url, index, query, engine=engine, size=size, text_field=text_field, api_key=api_key,
                            user=user, password=password, title_field=title_field, weights=w, reranker=reranker,
                            top_k=k, exact=exact)
    if as_json:
        out.print_json(json.dumps(res, ensure_ascii=False, default=str))
        return
    table = Table(title=f"{escape(query)} — {index} on {escape(url)}, {len(res['hits'])} of {size} BM25 hits reranked")
    for col in ("#", "_id", "combined", "_score", "rerank", "text"):
        table.add_column(col, overflow="fold")
    from radlite.integrations.elastic import _field

    for i, h in enumerate(res["hits"], 1):
        text = str(_field(h, text_field) or "")
        table.add_row(str(i), escape(str(h.get("_id"))), f"{h['combined_score']:.3f}",
                      "-" if h.get("_score") is None else f"{h['_score']:.3f}", f"{h['rerank_score']:.3f}",
                      escape(text[:160] + ("..." if len(text) > 160 else "")))
    out.print(table)


@app.command("add")
@command
def add_cmd(
    index: Path = typer.Argument(..., help="Index directory."),
    corpus: Path = typer.Argument(..., help="Documents to add (same formats as `index`)."),
    text_field: Optional[str] = typer.Option(None, help="Field holding the text."),
    ray: Optional[str] = RAY_OPTION,
    ray_actors: Optional[int] = RAY_ACTORS_OPTION,
):
    """Add documents to an index without rebuilding it (only the new passages are encoded)."""
    from radlite.corpus import load_corpus
    from radlite.search.engine import RadLITESearch

    docs = load_corpus(corpus, text_field=text_field)
    with writer_lock(index) if index.is_dir() else _no_lock():
        engine = RadLITESearch.load(index, use_reranker=False, show_progress=True, ray=ray, ray_actors=ray_actors)
        n = engine.add_documents(docs)
        engine.save(index)
    err.print(f"added {n} documents; {len(engine.index.documents)} in the index")


@app.command("delete")
@command
def delete_cmd(index: Path = typer.Argument(...), ids: List[str] = typer.Argument(..., help="Document ids.")):
    """Delete documents by id from every signal of an index."""
    from radlite.index import SearchIndex

    with writer_lock(index) if index.is_dir() else _no_lock():
        current = SearchIndex.load(index)
        updated = current.without_documents(ids)
        updated.save(index)
    err.print(f"deleted {len(current.documents) - len(updated.documents)} documents; {len(updated.documents)} left")


@app.command("info")
@command
def info_cmd(index: Path = typer.Argument(...), as_json: bool = typer.Option(False, "--json")):
    """Show an index's manifest: models, counts, settings, format version."""
    from radlite.index import read_manifest

    manifest = read_manifest(index)
    if as_json:
        out.print_json(json.dumps(manifest))
        return
    table = Table(title=f"radlite index {escape(str(index))}", show_header=False)
    c = manifest["counts"]
    rows = [
        ("format", f"{manifest['format']} v{manifest['format_version']} (radlite {manifest['radlite_version']})"),
        ("created / updated", f"{manifest['created']} / {manifest['updated']}"),
        ("documents / passages", f"{c['documents']} / {c['passages']}"),
        ("ColBERT token vectors", ("in the Qdrant collection" if (manifest.get("backend") or {}).get("kind") == "qdrant"
                                   else str(c.get("colbert_tokens") or 0)) if "colbert" in manifest["signals"] else "-"),
        ("signals", ", ".join(manifest["signals"])),
    ]
    b = manifest.get("backend") or {"kind": "local"}
    if b["kind"] == "qdrant":
        rows.append(("backend", f"qdrant {b['url'] or b['path']} collection {b['collection']} "
                                f"(shards {b['shards']}, replicas {b['replicas']})"))
    else:
        rows.append(("backend", "local (this folder)"))
    for kind, m in manifest["models"].items():
        state = "untrained" if m.get("trained") is False else ("trained" if m.get("trained") else "")
        rows.append((f"model: {kind}", f"{m['name']}  sha256 {m['sha256'][:12]}  {state}".strip()))
    f = manifest["config"]["fusion"]
    rows.append(("fusion", f"{f['method']} weights {f['weights']} temperature {f['temperature']}"))
    ch = manifest["config"]["chunking"]
    rows.append(("passages", f"{ch['passage_words']} words, overlap {ch['overlap_words']}"))
    for row in rows:
        table.add_row(*(escape(x) for x in row))
    out.print(table)


@app.command("demo")
@command
def demo_cmd(
    output: Path = typer.Option(None, "--output", "-o", help="Where to keep the demo index (default: a folder under $RADLITE_HOME)."),
    k: int = typer.Option(3, "-k"),
):
    """Index the bundled radiology sample with the default models and run example queries."""
    from radlite.corpus import load_corpus
    from radlite.models.resolve import radlite_home
    from radlite.search.engine import RadLITESearch

    sample = resources.files("radlite") / "data" / "sample"
    docs = load_corpus(Path(str(sample / "radiology_sample.jsonl")))
    queries = [json.loads(line) for line in Path(str(sample / "queries.jsonl")).read_text().splitlines() if line.strip()]
    output = output or radlite_home() / "demo-index"
    err.print(f"indexing the bundled sample: {len(docs)} radiology teaching documents, nine subspecialties")
    start = time.perf_counter()
    engine = RadLITESearch(show_progress=True).index_corpus(docs)
    engine.save(output)
    err.print(f"index written to {escape(str(output))} in {time.perf_counter() - start:.1f} s\n")
    hits = 0
    for q in queries[:6]:
        results = engine.search(q["text"], top_k=k)
        hits += bool(results) and results[0]["id"] in q["relevant"]
        _print_results(q["text"], results, expected=q["relevant"])
        err.print(_timings(engine.last_timings) + "\n")
    out.print(f"expected document ranked first for {hits} of {min(6, len(queries))} example queries")
    out.print(f"try: radlite search {escape(str(output))} \"your question\"", highlight=False)
    _print_notes(engine)


def _print_results(query: str, results: list[dict], expected: list[str] | None = None) -> None:
    table = Table(title=f"[bold]{escape(query)}[/bold]", title_justify="left", expand=False)
    for col in ("#", "id", "title", "score", "bm25", "bi-enc", "colbert", "x-enc"):
        if col == "title":
            table.add_column(col, min_width=20, max_width=48, no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(col, justify="left" if col == "id" else "right", no_wrap=True)
    for r in results:
        s = r["signals"]

        def cell(name, key="raw"):
            if name not in s or s[name][key] is None:
                return "-"
            rank = s[name]["rank"]
            return f"{s[name][key]:.3f}" + (f" #{rank}" if rank else "")

        mark = " ✓" if expected and r["id"] in expected else ""
        table.add_row(str(r["rank"]), escape(r["id"]) + mark, escape(r["title"] or r["passage"][:60]), f"{r['score']:.3f}",
                      cell("bm25"), cell("biencoder"), cell("colbert"), cell("crossencoder", "calibrated"))
    if not results:
        table.add_row("", "no results", "", "", "", "", "", "")
    out.print(table)
    if results:
        out.print(f"  best passage: {escape(results[0]['passage'][:300])}", highlight=False)


@contextlib.contextmanager
def _no_lock():
    yield  # a missing index: the load that follows reports it


def _timings(t: dict[str, float]) -> str:
    return "  time (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())


def _print_notes(engine) -> None:
    for note in engine.untrained_notes():
        err.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


def with_optional_values(argv: List[str]) -> List[str]:
    """`--ray` may come without its ADDRESS (start a local Ray instance); Click options always take
    a value, so a bare `--ray` becomes `--ray local` before parsing."""
    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(argv) or not _ray_address(argv[i + 1])):
            out.append("local")
    return out


def _ray_address(value: str) -> bool:
    """Whether the word after --ray is its ADDRESS (local, auto, ray://..., HOST:PORT) rather than
    the next option or the corpus (a path or a bundled dataset's name)."""
    import re

    if value in ("local", "auto") or value.startswith("ray://"):
        return True
    return bool(re.fullmatch(r"[\w.\-]+:\d+", value)) and not Path(value).exists()


def main() -> None:
    app(with_optional_values(sys.argv[1:]), prog_name="radlite")


if __name__ == "__main__":
    main()
