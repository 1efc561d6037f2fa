"""What the reliability suite tried, counted, and printed at the end of the run.

The issue asks that CI *report* how many fault points, concurrent runs and
generated inputs were tried with nothing lost; a bare "passed" would not say
whether hypothesis ran 10 examples or 1,000. Tests call `tally.add(kind, n)`
(through the `tally` fixture) and the summary goes to the terminal and to
`.pytest-reliability.json` beside the tests' working directory.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest


class Tally:
    """Counts per kind of trial ("fault points (local)", "generated specs", ...)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, kind: str, count: int = 1) -> None:
        self.counts[kind] += count


TALLY = Tally()


@pytest.fixture(scope="session")
def tally() -> Tally:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY.counts:
        return
    terminalreporter.section("reliability suite: what was tried")
    width = max(len(kind) for kind in TALLY.counts)
    for kind, count in sorted(TALLY.counts.items()):
        terminalreporter.write_line(f"{kind.ljust(width)}  {count:>6}")
    failed = len(terminalreporter.stats.get("failed", [])) + len(terminalreporter.stats.get("error", []))
    terminalreporter.write_line("nothing lost: every trial passed" if not failed
                                else f"{failed} test(s) failed: see above")
    Path(".pytest-reliability.json").write_text(json.dumps(dict(TALLY.counts), indent=2) + "\n")
