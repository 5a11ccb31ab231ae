"""The command line: one module per command group, each only parsing options and printing what the
library returns. `radlite --help` lists the commands; `python -m radlite` is the same program."""

from __future__ import annotations

import sys

import typer

from radlite.cli import evaluate, feedback, index, search, train
from radlite.cli._common import quiet_libraries, with_optional_values

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="radlite: multi-stage search over radiology knowledge.",
)


@app.callback()
def main_options(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each stage does.")):
    quiet_libraries(verbose)


for group in (index, search, evaluate, feedback, train):
    group.register(app)


def main() -> None:
    """The `radlite` console script."""
    app(with_optional_values(sys.argv[1:]), prog_name="radlite")


__all__ = ["app", "main", "with_optional_values"]
