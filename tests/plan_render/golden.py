"""Golden files: expected renderer output, checked in under golden/.

Regenerate after an intended change with
    UPDATE_GOLDEN=1 .venv/bin/pytest tests/plan_render
and review `git diff tests/plan_render/golden` like any other change.
"""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

from rich.console import Console

from tfsctl import __version__
from tfsctl.plan.model import Plan
from tfsctl.plan.render.text import render_text

GOLDEN = Path(__file__).parent / "golden"
WIDTH = 100


def stable(text: str) -> str:
    """The output with tfsctl's version masked, so a release does not rewrite every golden file."""
    return text.replace(f'"{__version__}"', '"<version>"').replace(f"tfsctl {__version__}",
                                                                     "tfsctl <version>")


def assert_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    actual = stable(actual)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}; create it with UPDATE_GOLDEN=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from its golden file; if intended, rerun with " \
                               "UPDATE_GOLDEN=1 and review the diff"


def text_of(plan: Plan, *, color: bool = False) -> str:
    """The text plan as a terminal of fixed width would show it (no colour unless asked)."""
    buffer = StringIO()
    console = Console(file=buffer, width=WIDTH, highlight=False, soft_wrap=True,
                      no_color=not color, force_terminal=color,
                      color_system="standard" if color else None)
    render_text(plan, console)
    return buffer.getvalue()
