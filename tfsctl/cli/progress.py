"""apply's progress on stderr: a line per event, each with the seconds since apply began;
on a terminal, a canary's judged intervals in one live panel instead.

A canary step is judged every `analysis.interval` for as long as its pause, so as plain
lines it is a column of near-identical figures. On a terminal (rich's own test, which
honours NO_COLOR, TERM=dumb and FORCE_COLOR) the panel shows the step's weight, the
requests seen, error rate, p99, the verdict and the time left, updated in place; the
next event that is not a canary interval leaves the last panel on screen and prints as
a line again. Anywhere else (CI logs, pipes) every interval is its line, as before.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console

from tfsctl.cli import console
from tfsctl.rollout.analysis import Outcome
from tfsctl.rollout.progress import CanaryProgress, Figures

if TYPE_CHECKING:
    from rich.live import Live

_OUTCOME_STYLE: dict[str, str] = {Outcome.PASS: "green", Outcome.FAIL: "bold red",
                                  Outcome.INCONCLUSIVE: "yellow"}


def canary_panel(figures: Figures) -> Any:
    """What the live display shows for one judged interval (rich's renderables are imported
    here: an apply without a canary on a terminal never pays for them)."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble((f"canary step {figures.step}/{figures.of}", "bold"),
                         f"  {figures.weight}% of the requests to the new server  ")
    bar = ProgressBar(total=100, completed=figures.weight, width=30)
    table = Table.grid(padding=(0, 3))
    for _ in range(5):
        table.add_column()
    verdict = Text(figures.outcome, style=_OUTCOME_STYLE.get(figures.outcome, ""))
    table.add_row(f"requests {figures.requests}", f"error rate {figures.error_rate * 100:.3g}%",
                  f"p99 {figures.p99_text()}", verdict,
                  f"{figures.left_s:.3g}s left in the step")
    top = Table.grid()
    top.add_row(head, bar)
    return Group(top, table)


class ProgressPrinter:
    """The progress callback apply is given; `close` ends a live panel still showing."""

    def __init__(self, err: Console | None = None):
        self.console = err or console.err()
        self.start = time.monotonic()
        self.live: Live | None = None

    def __call__(self, message: str) -> None:
        if isinstance(message, CanaryProgress) and self.console.is_terminal:
            panel = canary_panel(message.figures)
            if self.live is None:
                from rich.live import Live

                self.live = Live(panel, console=self.console, auto_refresh=False)
                self.live.start()
            self.live.update(panel, refresh=True)
            return
        self.close()
        self.console.print(f"[{time.monotonic() - self.start:6.1f}s] {message}", markup=False,
                           style="dim" if message.startswith("waiting") else None)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
