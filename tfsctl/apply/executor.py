"""Carry out one server's plan, and put the last good state back if anything fails.

The order of steps is chosen so that a process killed at any point leaves a
server that still serves, and a state the next plan converges from:

1. exports: each version is built beside its target and renamed into place;
2. batching/monitoring files (only read at start) are written atomically;
3. the server action:
   * reload: the new config goes to the server over gRPC *first* and is
     written to model.config only after the server took it, so a kill in
     between leaves an old file that the next plan sees as a change;
   * create/replace/restart/start: model.config is written first (the server
     reads it at start), then the runtime acts; a replacement keeps the old
     container until the new one serves;
4. labels whose version was not AVAILABLE are set in a second reload, once it is;
5. wait until every selected version is AVAILABLE and removed ones are gone;
6. smoke requests (against the new server itself, where the runtime starts it
   beside the serving one); then the runtime switches traffic to it, the
   replacement is committed, pruned versions deleted, and the outcome recorded
   in the history.

On failure the previous model.config and side files are restored, versions
this apply exported are removed again (they are reproducible from their
sources), the runtime is rolled back (old container back, or a reload with
the previous config), and the error says what failed and what was restored.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfsctl.apply.recovery import undo_journal
from tfsctl.apply.smoke import Predict, run_smoke
from tfsctl.apply.wait import Expectation, ServingFailed, StatusProbe, wait_until_serving
from tfsctl.atomic import remove_file, write_atomic
from tfsctl.errors import TfsctlError
from tfsctl.failpoints import failpoint
from tfsctl.journal import Journal, RuntimeUndo, delete_journal
from tfsctl.live.state import LiveServer
from tfsctl.plan.model import ServerAction, ServerPlan, VersionChange
from tfsctl.runtimes.base import Launch, RuntimeDriver, Step
from tfsctl.serverconfig.model_config import ModelEntry, render_text

Reload = Callable[[tuple[ModelEntry, ...]], None]
Export = Callable[[VersionChange, Path, Callable[[str], None]], Any]

#: The runtime step each disruptive action takes.
_STEPS = {ServerAction.CREATE: Step.CREATE, ServerAction.REPLACE: Step.REPLACE,
          ServerAction.RESTART: Step.RESTART, ServerAction.START: Step.RESTART}


@dataclass
class ApplyContext:
    """The effects apply may use, injected so the sequence itself is testable."""

    driver: RuntimeDriver
    probe: StatusProbe
    reload: Reload
    export: Export
    predict: Predict
    progress: Callable[[str], None] = lambda _: None
    timeout: float = 300.0
    #: called once before the first change: starts the guardian that undoes this apply
    #: from its journal should this process be killed (see guardian.py)
    guard: Callable[[], None] = lambda: None


class ApplyFailed(TfsctlError):
    """Apply failed; `hint` is the failure's own fix, `restored` what the rollback put back
    (printed on its own `rollback:` line)."""

    def __init__(self, message: str, restored: list[str], hint: str = ""):
        note = ("rollback: restored " + "; ".join(restored)) if restored else \
            "rollback: nothing had been changed yet, the server was not touched"
        if any(item.startswith("NOT restored") for item in restored):
            note += ("; what was not restored is retried by this apply's guardian (guardian.log "
                     "in the state dir) or, failing that, by the next apply")
        super().__init__(message, hint, (note,))
        self.restored = restored


@dataclass
class ApplyReport:
    server: str
    action: ServerAction
    exported: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    smoke: list[str] = field(default_factory=list)
    seconds_to_serve: float = 0.0
    #: seconds from stopping (or lacking) a server to the new one serving; None for a reload
    start_gap_seconds: float | None = None
    model_config_text: str = ""


def expectation(plan: ServerPlan) -> Expectation:
    """Which versions must be AVAILABLE once the plan is applied (decided by the planner)."""
    leaving: dict[str, set[int]] = {}
    for prune in plan.prunes:
        leaving.setdefault(prune.model, set()).add(prune.version)
    return Expectation({model: frozenset(versions) for model, versions in plan.serve},
                       {model: frozenset(versions) for model, versions in leaving.items()})


class _Transaction:
    """Remembers what apply changed, so that a failure can put it back.

    Every change is recorded in the journal *before* it is made, so a process
    killed at any point leaves a record that recovery can undo it from.
    """

    def __init__(self, plan: ServerPlan, live: LiveServer, ctx: ApplyContext):
        self.state_dir, self.ctx = ctx.driver.state_dir, ctx
        self.journal = Journal(plan.name)
        self.live_config = live.model_config.text if live.model_config.exists else None
        self.started = False

    def record(self, change: Callable[[Journal], object]) -> None:
        """Add one undo step to the journal and persist it (before the change is made)."""
        if not self.started:
            self.started = True
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.ctx.guard()
        change(self.journal)
        self.journal.save(self.state_dir)

    def write(self, path: Path, text: str, previous: str | None) -> None:
        self.record(lambda j: j.files.setdefault(str(path), previous))
        write_atomic(path, text)

    def export(self, target: Path) -> None:
        self.record(lambda j: j.exported.append(str(target)))

    def reload(self, entries: tuple[ModelEntry, ...]) -> None:
        self.record(lambda j: setattr(j, "reload_previous", self.live_config))
        self.ctx.reload(entries)

    def runtime(self, step: Step) -> RuntimeUndo:
        undo = self.ctx.driver.undo_for(step)
        self.record(lambda j: setattr(j, "runtime", undo))
        return undo

    def rollback(self) -> list[str]:
        """Undo everything; returns what was restored and what was not (the journal is kept
        when something was not, so the guardian or the next apply retries it)."""
        result = undo_journal(self.journal, self.ctx.driver, self.ctx.reload)
        if not result.failed:
            delete_journal(self.state_dir)
        return result.restored + [f"NOT restored: {f}" for f in result.failed]

    def done(self) -> None:
        """The apply is verified: mark it committed, then drop what was kept aside.

        Marked first, so that a failure to clean up (an engine error deleting the old
        container) or a kill can never make a later recovery undo a verified apply:
        recovery finishes the commit instead.
        """
        if self.journal.runtime is None:
            delete_journal(self.state_dir)
            return
        self.record(lambda j: setattr(j, "committed", True))
        try:
            self.ctx.driver.commit(self.journal.runtime)
        except TfsctlError as exc:
            self.ctx.progress(f"warning: could not remove the previous server ({exc.message}); "
                              "removed later by this apply's guardian or the next apply")
            return
        delete_journal(self.state_dir)


def apply_server(plan: ServerPlan, live: LiveServer, launch: Launch | None, ctx: ApplyContext, *,
                 destroy: bool = False) -> ApplyReport:
    """Carry out one server's plan; raises ApplyFailed after rolling back.

    Everything done comes from `plan` (and `launch`: its desired runtime with the secret
    values read now); `live` gives only what to put back on failure. `destroy` says the
    plan is a `tfsctl destroy` one: its action is NONE when the server is already gone,
    and it must only remove files, never wait for a server to serve.
    """
    if plan.errors:
        raise TfsctlError(f"the plan for {plan.name!r} has errors; nothing was changed",
                          "; ".join(h.message for h in plan.errors))
    report = ApplyReport(plan.name, plan.action)
    if destroy or plan.action is ServerAction.DESTROY:
        _destroy(plan, ctx)
        return report
    tx = _Transaction(plan, live, ctx)
    final_text = render_text(plan.desired_entries)
    config_path = Path(plan.model_config_path)
    previous_config = live.model_config.text if live.model_config.exists else None
    try:
        for leftover in plan.cleanup:
            ctx.progress(f"removing leftover {leftover} of an interrupted export")
            shutil.rmtree(leftover, ignore_errors=True)
        for change in plan.exports:
            assert change.source_spec is not None, "the planner exports only versions with a source"
            target = Path(change.target)
            kind = change.source.kind if change.source else "?"
            ctx.progress(f"exporting {change.model}/{change.version} from {kind}")
            tx.export(target)
            ctx.export(change, target, ctx.progress)
            report.exported.append(f"{change.model}/{change.version}")
        failpoint("after-export")
        for side in plan.files:
            if side.content is not None:
                live_file = live.side_file(side.name)
                tx.write(Path(side.path), side.content,
                         live_file.text if live_file and live_file.exists else None)
        failpoint("after-side-files")
        action = plan.action
        started: float | None = None  # when the runtime began (re)starting the server
        if action is ServerAction.RELOAD or (action is ServerAction.NONE and plan.label_steps):
            ctx.progress("reloading the model config (hot, no downtime)")
            tx.reload(plan.first_entries)
            failpoint("after-reload")
        elif action in _STEPS:
            assert launch is not None, "a runtime step needs the desired runtime"
            tx.write(config_path, render_text(plan.first_entries), previous_config)
            ctx.progress(f"{action.value}: {'; '.join(plan.reasons)}")
            step = _STEPS[action]
            tx.runtime(step)
            started = time.monotonic()
            {Step.CREATE: ctx.driver.create, Step.REPLACE: ctx.driver.replace,
             Step.RESTART: ctx.driver.restart}[step](launch)
            failpoint("after-runtime")
        report.seconds_to_serve = wait_until_serving(expectation(plan), ctx.probe,
                                                     timeout=ctx.timeout, progress=ctx.progress,
                                                     alive=ctx.driver.check_started)
        if started is not None:
            report.start_gap_seconds = round(time.monotonic() - started, 2)
        failpoint("before-labels")
        if plan.label_steps:
            ctx.progress("moving labels: " + ", ".join(
                f"{s.model}.{s.label} -> {s.version}" for s in plan.label_steps))
            tx.reload(plan.desired_entries)
        tx.write(config_path, final_text, previous_config)
        failpoint("after-config-write")
        failures = []
        for model, tests in plan.smoke:
            for result in run_smoke(model, tests, ctx.predict):
                report.smoke.append(f"{'ok' if result.ok else 'FAILED'} {model}: {result.name}")
                if not result.ok:
                    failures.append(f"smoke test {result.name!r} of {model}: {result.detail}")
        if failures:
            raise ServingFailed("; ".join(failures))
        if started is not None and launch is not None:
            ctx.driver.switch(launch)
            failpoint("after-switch")
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - any failure rolls back
        message = _reason(exc)
        ctx.progress(f"failed: {message}; rolling back")
        with signals_deferred():  # a second Ctrl-C must not cut the rollback short
            restored = tx.rollback()
        raise ApplyFailed(f"apply of server {plan.name!r} failed: {message}", restored,
                          getattr(exc, "hint", "")) from None
    tx.done()
    for change in plan.prunes:
        ctx.progress(f"pruning {change.model}/{change.version}")
        shutil.rmtree(change.target, ignore_errors=True)
        report.pruned.append(f"{change.model}/{change.version}")
    report.model_config_text = final_text
    return report


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C or SIGTERM)"
    return getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"


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


def _destroy(plan: ServerPlan, ctx: ApplyContext) -> None:
    if plan.action is ServerAction.DESTROY:
        ctx.progress(f"removing the server {plan.name!r}")
        ctx.driver.destroy()
    for file_change in plan.files:
        remove_file(Path(file_change.path))
    remove_file(Path(plan.model_config_path))
    for prune in plan.prunes:  # destroy --purge
        ctx.progress(f"deleting {prune.model}/{prune.version}")
        shutil.rmtree(prune.target, ignore_errors=True)
