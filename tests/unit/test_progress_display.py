"""apply's progress printer: a canary's intervals as one live panel on a terminal, and as
plain lines anywhere else (CI logs, pipes), with every other event a line in both."""

from __future__ import annotations

import io

from rich.console import Console

from tfsctl.cli.progress import ProgressPrinter
from tfsctl.rollout.progress import CanaryProgress, Figures


def _intervals() -> list[CanaryProgress]:
    return [CanaryProgress(Figures(1, 2, 20, requests, 0.0, 12.5, "pass", left))
            for requests, left in ((100, 20.0), (140, 10.0), (90, 0.0))]


def _printed(terminal: bool) -> str:
    buffer = io.StringIO()
    printer = ProgressPrinter(Console(file=buffer, force_terminal=terminal, width=120,
                                      color_system=None))
    printer("server 'a': green started")
    for interval in _intervals():
        printer(interval)
    printer("server 'a': promoted")
    printer.close()
    return buffer.getvalue()


def test_a_log_gets_each_interval_as_its_line() -> None:
    out = _printed(terminal=False)
    assert out.count("request(s), error rate 0%, p99 12.5ms: pass") == 3
    assert "canary step 1/2 at 20%: 140 request(s)" in out
    assert out.index("green started") < out.index("140 request(s)") < out.index("promoted")


def test_a_terminal_gets_one_panel_updated_in_place() -> None:
    out = _printed(terminal=True)
    assert "request(s), error rate" not in out  # no interval printed as a line
    assert "canary step 1/2" in out and "20% of the requests to the new server" in out
    assert "requests 90" in out and "p99 12.5ms" in out and "0s left in the step" in out
    # the last panel stays on screen, above the next line
    assert out.rindex("requests 90") < out.index("promoted")
    assert out.index("green started") < out.index("canary step 1/2")


def test_closing_without_a_panel_prints_nothing() -> None:
    buffer = io.StringIO()
    ProgressPrinter(Console(file=buffer, force_terminal=True)).close()
    assert buffer.getvalue() == ""
