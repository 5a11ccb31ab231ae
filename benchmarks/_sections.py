"""Sections of a committed report (RESULTS.md, speed.md) that one benchmark script owns: the text between its
HTML-comment markers, e.g. `<!-- vocabulary:start -->` ... `<!-- vocabulary:end -->`. A script rewrites its own
section and leaves every other byte of the file as it was."""

from __future__ import annotations

import re
from pathlib import Path

# the heading benchmarks/reranker.py puts its section of benchmarks/speed.md under (its markers follow it)
SPEED_RERANKER_HEADING = "## F. Reranking 50 candidates (the cross-encoder of issue 14)"

# every owned section: its name, an opening marker (":start", or ":begin" in older sections) and ":end"
OWNED = re.compile(r"<!-- ([\w-]+):(?:start|begin) -->.*?<!-- \1:end -->", re.S)


def put_section(path: Path, begin: str, end: str, body: str, heading: str = "", after: str | None = None) -> None:
    """Replace the text between the markers `begin` and `end` in `path` with `body`; where they are not there
    yet, put the section (under `heading`, if given) just after the marker `after` when the file has it, or at
    the end of the file."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        new = (f"{heading}\n\n" if heading else "") + block
        if after and after in text:
            at = text.index(after) + len(after)
            text = text[:at] + "\n\n" + new + text[at:]
        else:
            text = text.rstrip("\n") + "\n\n" + new + "\n"
    path.write_text(text, encoding="utf-8")


def owned_sections(text: str) -> list[str]:
    """Every owned section in `text`, markers included, in order."""
    return [m.group(0) for m in OWNED.finditer(text)]
