"""`radlite index`, `add`, `delete`, `info`: build and change an index, and show its manifest."""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from radlite.backends.registry import backend_class
from radlite.cli._common import (
    RAY_ACTORS_OPTION,
    RAY_OPTION,
    check_writable,
    command,
    err,
    json_text,
    no_lock,
    out,
    parse_signals,
    print_notes,
    safe,
)
from radlite.errors import RadliteError
from radlite.index.store import writer_lock
from radlite.signals import BIENCODER, COLBERT, FIRST_STAGE


def register(app: typer.Typer) -> None:
    app.command("index")(index_cmd)
    app.command("add")(add_cmd)
    app.command("delete")(delete_cmd)
    app.command("info")(info_cmd)
    app.command("verify")(verify_cmd)


@command
def index_cmd(
    corpus: Path = typer.Argument(..., help="JSONL file, BEIR folder, JSON array, or folder of .txt/.md files."),
    output: Path = typer.Option(..., "--output", "-o", help="Index directory to create or replace (atomically)."),
    text_field: Optional[str] = typer.Option(
        None, help="Field holding the text (default: 'text' for JSONL, 'content' for a JSON array)."
    ),
    signals: str = typer.Option(",".join(FIRST_STAGE), help="First-stage indexes to build."),
    biencoder: str = typer.Option(
        "default",
        help="Bi-encoder: hub id, local folder, 'default' (radlite's trained one) or 'untrained' (all-MiniLM-L6-v2).",
    ),
    colbert_model: str = typer.Option("default", help="ColBERT model: hub id, local folder or 'default'."),
    reranker: str = typer.Option("default", help="Cross-encoder used by searches of this index."),
    passage_words: int = typer.Option(128, help="Words per passage for long documents."),
    overlap_words: int = typer.Option(32, help="Words shared by consecutive passages."),
    batch_size: int = typer.Option(32, min=1),
    backend: str = typer.Option("local", help="Where the signals live: 'local' (the index folder) or 'qdrant'."),
    qdrant_url: Optional[str] = typer.Option(
        None, help="Qdrant server or cluster URL (with --backend qdrant; API key from $QDRANT_API_KEY)."
    ),
    qdrant_path: Optional[Path] = typer.Option(
        None, help="Folder for qdrant-client's embedded local mode (with --backend qdrant)."
    ),
    qdrant_collection: str = typer.Option("radlite", help="Collection name prefix (a build stamp is appended)."),
    shards: int = typer.Option(1, min=1, help="Qdrant shards of the collection (applies on a cluster)."),
    replicas: int = typer.Option(1, min=1, help="Qdrant replication factor (applies on a cluster)."),
    bm25_avgdl_tolerance: float = typer.Option(
        0.0,
        help="Qdrant: rewrite BM25 weights on add/delete only when the average passage length moved more than this "
        "(0: always, exact).",
    ),
    ray: Optional[str] = RAY_OPTION,
    ray_actors: Optional[int] = RAY_ACTORS_OPTION,
    glossary: Optional[Path] = typer.Option(
        None,
        help="The site's own abbreviations and synonyms (TSV 'term<TAB>expansion[|...]' or JSON), kept with the index.",
    ),
    expand: bool = typer.Option(
        True, help="Read queries with radlite's lexicon (abbreviations, synonyms, negation); --no-expand: as typed."
    ),
):
    """Index a collection with every first-stage signal."""
    from radlite.config import IndexConfig
    from radlite.search.engine import RadLITESearch

    check_writable(output)
    chosen = parse_signals(signals)
    docs = load_documents(corpus, text_field)
    config = IndexConfig()
    config.vocabulary.expand = expand
    if glossary is not None:
        from radlite.terms.lexicon import read_glossary

        config.vocabulary.glossary = read_glossary(glossary)
    config.chunking.passage_words, config.chunking.overlap_words = passage_words, overlap_words
    if not 0 <= overlap_words < passage_words:
        raise RadliteError("--overlap-words must be smaller than --passage-words")
    settings = _backend_settings(
        backend, qdrant_url, qdrant_path, qdrant_collection, shards, replicas, bm25_avgdl_tolerance
    )
    err.print(
        f"indexing {len(docs)} documents from {safe(str(corpus))}"
        + (f" into Qdrant at {safe(str(qdrant_url or qdrant_path))}" if settings else "")
        + (f", encoding on Ray ({safe(ray)})" if ray else "")
    )
    start = time.perf_counter()
    engine = RadLITESearch(
        biencoder=biencoder,
        colbert=colbert_model,
        reranker=reranker,
        signals=chosen,
        config=config,
        batch_size=batch_size,
        show_progress=True,
        backend=settings,
        ray=ray,
        ray_actors=ray_actors,
    )
    engine.index_corpus(docs)
    try:
        with writer_lock(output):
            engine.save(output)
    except BaseException:
        engine.index.drop_store_unless_live(output)  # the new collection, unless the new catalog did go live
        raise
    idx = engine.index
    err.print(
        f"wrote {safe(str(output))}: {len(idx.documents)} documents, {len(idx.passages)} passages, "
        f"signals {', '.join(idx.signals)} in {time.perf_counter() - start:.1f} s"
        + (f" ({idx.backend.describe()})" if idx.backend.describe() else "")
    )
    print_notes(engine)


def _backend_settings(backend, url, path, collection, shards, replicas, tolerance):
    if backend == "local":
        if url or path:
            raise RadliteError("--qdrant-url / --qdrant-path need --backend qdrant")
        return None
    if backend != "qdrant":
        raise RadliteError(f"unknown --backend {backend!r}; choose 'local' or 'qdrant'")
    from radlite.backends.registry import qdrant_settings

    return qdrant_settings(url, path, collection, shards, replicas, tolerance)


def load_documents(corpus: Path, text_field: Optional[str]):
    """A corpus path, or the name of a bundled dataset (e.g. radbench9)."""
    from radlite.corpus import load_corpus
    from radlite.eval.datasets import BUNDLED, load_dataset

    if str(corpus) in BUNDLED and not corpus.exists():
        return load_dataset(str(corpus)).corpus
    return load_corpus(corpus, text_field=text_field)


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
    with writer_lock(index) if index.is_dir() else no_lock():
        engine = RadLITESearch.load(index, use_reranker=False, show_progress=True, ray=ray, ray_actors=ray_actors)
        n = engine.add_documents(docs)
        engine.save(index)
    err.print(f"added {n} documents; {len(engine.index.documents)} in the index")


@command
def delete_cmd(index: Path = typer.Argument(...), ids: List[str] = typer.Argument(..., help="Document ids.")):
    """Delete documents by id from every signal of an index."""
    from radlite.index import SearchIndex

    with writer_lock(index) if index.is_dir() else no_lock():
        current = SearchIndex.load(index)
        updated = current.without_documents(ids)
        updated.save(index)
    err.print(f"deleted {len(current.documents) - len(updated.documents)} documents; {len(updated.documents)} left")


def fitted_text(fusion: dict, biencoder_sha256: Optional[str] = None) -> str:
    """What an index's fusion was fitted on, in one line (its measured quality where it is radlite's default, and the
    index's bi-encoder, when given, is the one it was measured with)."""
    fit = fusion.get("fitted")
    if not fit:
        from radlite.config import default_fusion_quality

        m = default_fusion_quality(fusion, biencoder_sha256)
        if m is None:
            return "nothing recorded: set by hand, not radlite's default"
        if not m["ndcg@10"]:
            return f"nothing: radlite's default; not measured with {m['models']} ({m['source']})"
        scores = ", ".join(f"{k} {v:.3f}" for k, v in m["ndcg@10"].items())
        return f"nothing: radlite's default; nDCG@10 with {m['models']}: {scores} ({m['source']})"
    back = "; --rollback restores the previous setting" if fusion.get("previous") else ""
    return (
        f"{fit['dataset']} {fit['split']} ({fit['queries']} queries, {fit['by']}, {fit['date']}): "
        f"nDCG@10 {fit['ndcg@10_before']:.3f} -> {fit['ndcg@10_after']:.3f}{back}"
    )


@command
def info_cmd(index: Path = typer.Argument(...), as_json: bool = typer.Option(False, "--json")):
    """Show an index's manifest: models, counts, settings, format version."""
    from radlite.index import read_manifest

    manifest = read_manifest(index)
    if as_json:
        out.print_json(json_text(manifest))
        return
    table = Table(title=f"radlite index {safe(str(index))}", show_header=False)
    c = manifest["counts"]
    b = manifest.get("backend") or {"kind": "local"}
    rows = [
        ("format", f"{manifest['format']} v{manifest['format_version']} (radlite {manifest['radlite_version']})"),
        ("created / updated", f"{manifest['created']} / {manifest['updated']}"),
        ("documents / passages", f"{c['documents']} / {c['passages']}"),
        (
            "ColBERT token vectors",
            (f"in the {b['kind']} backend" if c.get("colbert_tokens") is None else str(c["colbert_tokens"]))
            if COLBERT in manifest["signals"]
            else "-",
        ),
        ("signals", ", ".join(manifest["signals"])),
    ]
    rows.append(("backend", backend_class(b).describe_settings(b)))
    for kind, m in manifest["models"].items():
        state = "untrained" if m.get("trained") is False else ("trained" if m.get("trained") else "")
        rows.append((f"model: {kind}", f"{m['name']}  sha256 {m['sha256'][:12]}  {state}".strip()))
    f = manifest["config"]["fusion"]
    norm = f.get("normalization", "minmax")
    rows.append(("fusion", f"{f['method']} ({norm}) weights {f['weights']} temperature {f['temperature']}"))
    rows.append(("fusion fitted on", fitted_text(f, manifest["models"].get(BIENCODER, {}).get("sha256"))))
    v = manifest["config"].get("vocabulary") or {}
    if not v.get("expand"):
        rows.append(("query expansion", "off (queries are searched as typed)"))
    else:
        from radlite.terms.lexicon import load_lexicon

        lex = v.get("lexicon") or {}
        glossary = len(v.get("glossary") or {})
        now = load_lexicon().describe()
        rows.append(
            (
                "query expansion",
                f"on: {lex.get('lexicon', 'radlite lexicon')} sha256 {str(lex.get('sha256', ''))[:12]}"
                + (f", site glossary of {glossary} terms" if glossary else "")
                + (
                    ""
                    if lex.get("sha256") == now["sha256"]
                    else f"; searches use the installed {now['lexicon']} sha256 {now['sha256'][:12]}"
                ),
            )
        )
    ch = manifest["config"]["chunking"]
    rows.append(("passages", f"{ch['passage_words']} words, overlap {ch['overlap_words']}"))
    for row in rows:
        table.add_row(*(safe(x) for x in row))
    out.print(table)


@command
def verify_cmd(index: Path = typer.Argument(..., help="Index directory.")):
    """Check every file of an index against its checksum, and every array's shape and values."""
    from radlite.index.verify import verify_index

    report = verify_index(index)
    if not report["checksums"]:
        err.print(
            "[yellow]note:[/yellow] this index was written without checksums; `radlite add` or a rebuild adds them"
        )
    out.print(
        f"ok: {safe(str(index))} generation {report['generation']}: {report['files']} files match their "
        "checksums; passages and every signal's arrays are sound",
        highlight=False,
    )
