"""The code keeps the style pyproject.toml configures: ruff's lint rules (pyflakes, pycodestyle with
lines <= 120, import order, bugbear) and ruff's formatting, over the package, tests and benchmarks."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is not installed: `make install` (or pip install -e '.[dev]') installs it")
    return [exe]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_finds_nothing(args):
    res = subprocess.run(
        _ruff() + args + ["radlite", "tests", "benchmarks"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr
