"""Run one server's steps, and put the last good state back if anything fails.

The steps come from the plan's execution half (`tfsctl.plan.execution`, ordered
by `tfsctl.plan.schedule`); each has one executor (`tfsctl.apply.steps`). They
run inside a transaction: every change is journalled before it is made, so a
failure here, or the guardian after a SIGKILL, undoes exactly what was done.

On failure the previous model.config and side files are restored, versions
this apply exported are removed again (they are reproducible from their
sources), the runtime is rolled back (old container back, or a reload with
the previous config), and apply waits until every version that was AVAILABLE
before is AVAILABLE again before it says "restored": a rollback is done only
when it serves. The error names the step that failed and what was restored.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tfsctl.apply.canary import CanaryAborted
from tfsctl.apply.smoke import run_smoke
from tfsctl.apply.steps import ApplyReport, StepRun, check_source, execute
from tfsctl.apply.transaction import ApplyContext, Transaction
from tfsctl.apply.wait import Expectation, wait_until_serving
from tfsctl.errors import TfsctlError
from tfsctl.live.state import LiveServer, VersionState
from tfsctl.plan.execution import ExportVersion, ServerExecution
from tfsctl.rollout.progress import clear_progress
from tfsctl.runtimes.base import Launch


class ApplyFailed(TfsctlError):
    """Apply failed; `hint` is the failure's own fix, `restored` what the rollback put back
    (printed on its own `rollback:` line)."""

    def __init__(self, message: str, restored: list[str], hint: str = "",
                 interrupted: bool = False, aborted: bool = False):
        note = ("rollback: restored " + "; ".join(restored)) if restored else \
            "rollback: nothing had been changed yet, the server was not touched"
        if any(item.startswith("NOT restored") for item in restored):
            note += ("; what was not restored is retried by this apply's guardian (guardian.log "
                     "in the state dir) or, failing that, by the next apply")
        super().__init__(message, hint, (note,))
        self.restored = restored
        self.interrupted = interrupted
        self.aborted = aborted  # a canary's analysis stopped it

    @property
    def outcome(self) -> str:
        """The word the history records for it."""
        if self.interrupted:
            return "interrupted"
        if any(i.startswith("NOT restored") for i in self.restored):
            return "failed"
        return "canary-aborted" if self.aborted else "rolled-back"


@dataclass(frozen=True)
class _Failure:
    step: str
    message: str
    hint: str
    interrupted: bool
    aborted: bool = False


def _describe(exc: BaseException, step: str) -> _Failure:
    if isinstance(exc, KeyboardInterrupt):
        return _Failure(step, "interrupted (Ctrl-C or SIGTERM)", "", True)
    message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
    return _Failure(step, message, getattr(exc, "hint", ""), False, isinstance(exc, CanaryAborted))


def _served_before(live: LiveServer) -> dict[str, frozenset[int]]:
    """Per model, the versions the server reported AVAILABLE when apply observed it."""
    if not live.report.reachable:
        return {}
    return {m.name: frozenset(v.version for v in m.versions if v.state is VersionState.AVAILABLE)
            for m in live.report.models if any(v.state is VersionState.AVAILABLE
                                               for v in m.versions)}


def _restore(tx: Transaction, live: LiveServer, ctx: ApplyContext) -> list[str]:
    """Undo the transaction; then wait until what served before serves again, and passes
    the smoke requests the last successful apply verified."""
    restored = tx.rollback()
    before = _served_before(live)
    if not before or not tx.touched_server or any(r.startswith("NOT restored") for r in restored):
        return restored
    expect = Expectation(before, allow_extra=True)
    try:
        wait_until_serving(expect, ctx.probe, timeout=ctx.timeout, progress=ctx.progress)
    except TfsctlError as exc:
        return restored + [f"NOT restored: serving {expect.describe()} ({exc.message})"]
    smoke = live.last_applied.smoke if live.last_applied else ()
    failed = [f"{model}: {result.name} ({result.detail})" for model, tests in smoke
              for result in run_smoke(model, tests, ctx.predict) if not result.ok]
    if failed:
        return restored + [f"NOT restored: the previous smoke requests fail: {'; '.join(failed)}"]
    checked = f", its {sum(len(t) for _, t in smoke)} smoke request(s) pass" if smoke else ""
    return restored + [f"serving {expect.describe()} again{checked}"]


def apply_server(execution: ServerExecution, live: LiveServer, launch: Launch | None,
                 ctx: ApplyContext, action: str = "apply",
                 verified: Callable[[ApplyReport], None] = lambda _: None) -> ApplyReport:
    """Run one server's steps; raises ApplyFailed after rolling back.

    Everything done comes from `execution` (and `launch`: its desired runtime with the
    secret values read now); `live` gives only what to put back on failure; `action`
    names what the review half says happens to the server, for the report. `verified` is
    told once the change can no longer be rolled back (before the old server is drained
    and removed), to record it.
    """
    for export in execution.of(ExportVersion):  # a stale source is refused before any change
        check_source(export)
    report = ApplyReport(execution.server, action)
    tx = Transaction(execution.server, live, ctx)
    run = StepRun(ctx, tx, launch, report)
    if execution.destroy:
        for step in execution.steps:
            execute(step, run)
        verified(report)
        return report
    current = "start"
    try:
        for step in execution.steps:
            current = step.kind
            execute(step, run)
        clear_progress(ctx.driver.state_dir)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - any failure rolls back
        failure = _describe(exc, current)
        ctx.progress(f"failed at step {failure.step}: {failure.message}; rolling back")
        with signals_deferred():  # a second Ctrl-C must not cut the rollback short
            clear_progress(ctx.driver.state_dir)
            restored = _restore(tx, live, ctx)
        raise ApplyFailed(f"apply of server {execution.server!r} failed at step {failure.step}: "
                          f"{failure.message}", restored, failure.hint,
                          failure.interrupted, failure.aborted) from None
    tx.done(lambda: verified(report))
    for step in execution.after_commit:
        execute(step, run)
    return report


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM are noted, not raised, while the block runs (the main thread's
    handlers only; elsewhere there is nothing to defer)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt
