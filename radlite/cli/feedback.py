"""`radlite feedback`: record, list, export and erase the relevance marks kept beside an index."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from radlite.cli._common import command, err, json_text, out, safe
from radlite.errors import RadliteError


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback_cmd)


@command
def feedback_cmd(
    index: Path = typer.Argument(..., help="Index directory (its marks are in INDEX/feedback.jsonl)."),
    query: Optional[str] = typer.Option(
        None, help="The query a mark is for (with --id); with --clear, erase only its marks."
    ),
    doc_id: Optional[str] = typer.Option(None, "--id", help="The document judged."),
    relevant: Optional[bool] = typer.Option(
        None, "--relevant/--not-relevant", help="Record a mark: the document answers the query, or does not."
    ),
    list_: bool = typer.Option(False, "--list", help="List the marks (latest per query and document)."),
    as_json: bool = typer.Option(False, "--json", help="With --list: every mark as JSON lines, in order."),
    export: Optional[Path] = typer.Option(None, help="Write DIR/qrels.trec (TREC qrels) and DIR/queries.tsv."),
    clear: bool = typer.Option(False, "--clear", help="Erase the marks (all, or --query's); asks unless --yes."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask before --clear."),
):
    """Relevance marks from an index's users: record one, list, export as TREC qrels, or erase them. Marks stay in
    the index folder and are never sent anywhere; `radlite tune INDEX --feedback` fits the fusion on them."""
    from radlite.index.feedback import FeedbackLog
    from radlite.index.store import live_generation

    live_generation(index)  # an index must be there
    log = FeedbackLog(index)
    actions = [relevant is not None, list_, export is not None, clear]
    if sum(actions) != 1:
        raise RadliteError(
            "choose one of: --relevant/--not-relevant (with --query and --id), --list, --export, --clear"
        )
    if relevant is not None:
        if not query or not doc_id:
            raise RadliteError("a mark needs --query and --id")
        _check_document(index, doc_id)
        log.add(query, doc_id, relevant, by="cli")
        out.print(f"recorded: {'relevant' if relevant else 'not relevant'} — {safe(doc_id)} for {safe(query)!r}")
    elif list_:
        _list(log, as_json)
    elif export is not None:
        n_queries, n_judged = log.export(export)
        out.print(f"wrote {n_judged} judgments of {n_queries} queries to {safe(export)}/qrels.trec and queries.tsv")
    else:
        if query is not None and not query.strip():
            raise RadliteError("--query is empty: give the query whose marks to erase, or leave --query out")
        what = f"the marks of {query!r}" if query is not None else "every feedback mark"
        if not yes and not typer.confirm(f"erase {what} of {index}?", err=True):
            raise typer.Exit(1)
        n = log.clear(query)
        out.print(f"erased {n} mark(s)")


def _check_document(index: Path, doc_id: str) -> None:
    from radlite.index import SearchIndex

    if doc_id not in {d.id for d in SearchIndex.load(index).documents}:
        raise RadliteError(f"no document with id {doc_id!r} in {index}", param="id")


def _list(log, as_json: bool) -> None:
    if as_json:
        for rec in log.records():
            out.print(json_text(rec), markup=False, highlight=False, soft_wrap=True)
        return
    from radlite.index.feedback import query_key, same_query

    latest: dict = {}
    for rec in log.records():
        latest.pop((same_query(rec["query"]), rec["id"]), None)
        latest[(same_query(rec["query"]), rec["id"])] = {**rec, "query": query_key(rec["query"])}
    table = Table(title=f"{len(latest)} judgments", title_justify="left")
    for col in ("query", "id", "mark", "time", "by"):
        table.add_column(col)
    for (_, d), rec in sorted(latest.items()):
        table.add_row(
            safe(rec["query"]),
            safe(d),
            "relevant" if rec["relevant"] else "not relevant",
            rec.get("time", ""),
            rec.get("by", ""),
        )
    out.print(table)
    if not latest:
        err.print("no feedback recorded for this index")
