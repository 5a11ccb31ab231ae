"""What every command shares: the consoles, one-line errors, signal parsing, result tables."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from radlite.errors import RadliteError
from radlite.signals import CROSSENCODER, FIRST_STAGE, SIGNALS

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


def quiet_libraries(verbose: bool) -> None:
    """Model libraries print load reports and warnings on every load; keep the CLI readable."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
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
            err.print(f"[red]error:[/red] {safe(with_flag(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except OSError as exc:  # permissions, full disk, a file where a folder should be
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"[red]error:[/red] {escape((exc.strerror or str(exc)) + where)}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(
                "interrupted; the index folder is unchanged (for a Qdrant index, re-run an interrupted "
                "add or delete to bring its collection back in step)"
            )
            raise typer.Exit(130) from None

    return wrapper


def with_flag(exc: RadliteError) -> str:
    """The error's message, naming the command-line option behind the parameter it is about."""
    param = getattr(exc, "param", None)
    return f"{exc} (option --{param.replace('_', '-')})" if param else str(exc)


def parse_signals(value: Optional[str]) -> Optional[list[str]]:
    """--signals as a list (None: every available signal)."""
    if value is None:
        return None
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    if not chosen:
        raise RadliteError(f"--signals is empty; name at least one of {', '.join(FIRST_STAGE)}")
    return chosen


def check_writable(output: Path) -> None:
    """Fail before hours of encoding, not after, if the index cannot be written there."""
    parent = output if output.exists() else output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if output.exists() and not output.is_dir():
        raise RadliteError(f"{output} exists and is not a directory")
    if not os.access(parent, os.W_OK):
        raise RadliteError(f"cannot write the index: no write permission in {parent}")


# passage encoding on Ray, the same for `index` and `add`
RAY_OPTION = typer.Option(
    None,
    "--ray",
    metavar="[ADDRESS]",
    help="Encode passages on Ray Data: --ray alone (or --ray local) starts a local Ray instance, --ray ADDRESS "
    "joins a cluster.",
)
RAY_ACTORS_OPTION = typer.Option(None, min=1, help="Model replicas on Ray (default: one per CPU).")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Text for the terminal: control characters (escape sequences that clear the screen, colour it
    or forge hyperlinks) and bidirectional overrides removed, rich markup escaped."""
    return escape(_CONTROL.sub("", str(text)))


def json_text(obj: object, **kwargs) -> str:
    """Strict JSON of `obj`: NaN and Infinity (which older indexes may hold in metadata) become null,
    so what --json prints always parses."""

    def finite(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: finite(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [finite(v) for v in x]
        return x

    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def print_results(query: str, results: list, expected: list[str] | None = None, confident: bool | None = None) -> None:
    """A table of results: each signal's score and rank (the cross-encoder's calibrated value)."""
    table = Table(title=f"[bold]{safe(query)}[/bold]", title_justify="left", expand=False)
    for col in ("#", "id", "title", "score", *SIGNALS):
        if col == "title":
            table.add_column(col, min_width=20, max_width=48, no_wrap=True, overflow="ellipsis")
        else:
            table.add_column(col, justify="left" if col == "id" else "right", no_wrap=True)
    for r in results:
        s = r["signals"]

        def cell(name, key="raw", s=s):
            if name not in s or s[name][key] is None:
                return "-"
            rank = s[name]["rank"]
            return f"{s[name][key]:.3f}" + (f" #{rank}" if rank else "")

        mark = " ✓" if expected and r["id"] in expected else ""
        table.add_row(
            str(r["rank"]),
            safe(r["id"]) + mark,
            safe(r["title"] or r["passage"][:60]),
            f"{r['score']:.3f}",
            *(cell(s, "calibrated" if s == CROSSENCODER else "raw") for s in SIGNALS),
        )
    if not results:
        table.add_row("", "no results", "", "", *([""] * len(SIGNALS)))
    out.print(table)
    if confident is False:
        best = results[0].relevance if results and getattr(results[0], "relevance", None) is not None else 0.0
        out.print(
            f"  no confident match: the best result's estimated relevance is {best:.2f}, below the "
            "threshold; nothing here may answer the question",
            highlight=False,
        )
    if results:
        out.print(f"  best passage: {safe(results[0]['passage'][:300])}", highlight=False)


@contextlib.contextmanager
def no_lock():
    """A stand-in for the writer lock where the index folder does not exist (the load that follows reports it)."""
    yield  # a missing index: the load that follows reports it


def understanding_text(e) -> str:
    """How the query was read (radlite.terms.Expansion), in one line."""
    parts = []
    for a in e.abbreviations:
        alts = " / ".join(
            f"{x['text']} {x['weight']:.0%}" if len(a["expansions"]) > 1 else x["text"] for x in a["expansions"]
        )
        parts.append(f"{a['text']} = {alts}" + (" (negated)" if a["negated"] else ""))
    parts += [f"{p['text']} = {' / '.join(p['terms'])}" + (" (negated)" if p["negated"] else "") for p in e.phrases]
    parts += [f"not: {n['text']} ({n['cue']})" for n in e.negated]
    parts += [f"uncertain: {u['text']} ({u['cue']})" for u in e.uncertain]
    return "; ".join(parts)


def timings(t: dict[str, float]) -> str:
    """Stage times as one line."""
    return "  time (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in t.items())


def print_notes(engine) -> None:
    """One note per model in use that is known to be untrained."""
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
    if value in ("local", "auto") or value.startswith("ray://"):
        return True
    return bool(re.fullmatch(r"[\w.\-]+:\d+", value)) and not Path(value).exists()
