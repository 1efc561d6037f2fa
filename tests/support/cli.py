"""The tfsctl CLI run in this process, and what every run on hostile input must end in.

Hypothesis runs hundreds of inputs per test, so the CLI runs in-process (click's
`CliRunner` isolation around `tfsctl.cli.main.run`, the real exception-to-exit-code
mapping) with TFSCTL_DEBUG=1: an internal error then escapes as an exception, with its
traceback, instead of being turned into a polite "internal error" line.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from click.testing import CliRunner

from tfsctl.cli.main import run


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    code: int | None
    out: str
    err: str
    exception: BaseException | None

    def __str__(self) -> str:
        return (f"tfsctl {' '.join(self.argv)[:300]} -> {self.code} ({self.exception!r})\n"
                f"stdout: {self.out[-1500:]}\nstderr: {self.err[-2500:]}")


def invoke(*argv: str, env: dict[str, str] | None = None, timeout: int = 60) -> CliResult:
    """Run the tfsctl CLI in this process and capture everything it says; a run longer
    than `timeout` seconds ends with `Hung` as its exception."""
    runner = CliRunner()
    environment = {"NO_COLOR": "1", "TFSCTL_DEBUG": "1", "COLUMNS": "200", **(env or {})}
    code: int | None = None
    exception: BaseException | None = None
    with runner.isolation(env=environment) as (out, err, _):
        try:
            with deadline(timeout):
                code = run(list(argv))
        except SystemExit as exit_:
            code, exception = (exit_.code if isinstance(exit_.code, int) else 1), exit_
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's assertion
            exception = exc
        stdout, stderr = out.getvalue(), err.getvalue()
    return CliResult(argv, code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
                     exception)


class Hung(Exception):
    """A command ran past its deadline (a hang, reported instead of blocking the suite)."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise `Hung` in this (main) thread if the block runs longer than `seconds`."""
    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def located_error(result: CliResult, spec_file: Path) -> bool:
    """The output holds a compiler-style `file:line:col: error:` for `spec_file`."""
    pattern = re.escape(str(spec_file)) + r":\d+:\d+: error: \S"
    return re.search(pattern, result.err) is not None


def assert_clean_outcome(result: CliResult, spec_file: Path) -> None:
    """What every hostile input must end in: exit 0/1/2, a reason on 1, never a traceback.

    Exit 1 says why: a located spec error naming the file, or an `error:` line or the
    plan's own error list (a spec can be valid and still unplannable: a version with no
    source, say).
    """
    assert result.exception is None or isinstance(result.exception, SystemExit), str(result)
    assert result.code in (0, 1, 2), str(result)
    text = result.out + result.err
    assert "Traceback" not in text and "internal error" not in text, str(result)
    if result.code == 1:
        said_why = re.search(r"(?m)^(error: |Error: |\s+Error \[)\S", text) or '"errors": [\n' in text
        assert located_error(result, spec_file) or said_why, str(result)
