"""Where a running canary stands: for apply's own display, and for `tfsctl status` in
another terminal.

Each judged interval is a `CanaryProgress`: a progress line (a str, so every progress
sink prints it as it is) that also carries its figures, so a terminal can show them
live instead of as one more line. Apply also writes the last judged interval to
`<state_dir>/canary.json` (atomically); the file counts only while apply's journal
exists, i.e. while that apply runs or before its guardian has undone it, so one left by
a killed apply is never shown as a canary in progress.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from tfsctl.atomic import remove_file, write_atomic
from tfsctl.journal import JOURNAL_FILE

PROGRESS_FILE = "canary.json"


class Figures(NamedTuple):
    """One judged interval of a canary step."""

    step: int
    of: int
    weight: int
    requests: int
    error_rate: float
    p99_ms: float | None
    outcome: str
    left_s: float

    def p99_text(self) -> str:
        """The p99 as both displays print it ("n/a" in an interval without latencies)."""
        return "n/a" if self.p99_ms is None else f"{self.p99_ms:g}ms"

    def line(self) -> str:
        return (f"canary step {self.step}/{self.of} at {self.weight}%: {self.requests} "
                f"request(s), error rate {self.error_rate * 100:.3g}%, p99 {self.p99_text()}: "
                f"{self.outcome}; {self.left_s:.3g}s left in the step")


class CanaryProgress(str):
    """The progress line of an interval, with its `figures`."""

    figures: Figures

    def __new__(cls, figures: Figures) -> CanaryProgress:
        line = super().__new__(cls, figures.line())
        line.figures = figures
        return line


def write_progress(state_dir: Path, progress: dict[str, Any]) -> None:
    write_atomic(state_dir / PROGRESS_FILE, json.dumps(progress, sort_keys=True) + "\n")


def clear_progress(state_dir: Path) -> None:
    remove_file(state_dir / PROGRESS_FILE)


def read_progress(state_dir: Path) -> dict[str, Any] | None:
    """The canary in progress on the server of `state_dir`, or None."""
    if not (state_dir / JOURNAL_FILE).exists():
        return None
    try:
        found = json.loads((state_dir / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
