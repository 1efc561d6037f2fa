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
6. smoke requests; then the replacement is committed, pruned versions deleted,
   and the outcome recorded in the history.

On failure the previous model.config and side files are restored, versions
this apply exported are removed again (they are reproducible from their
sources), the runtime is rolled back (old container back, or a reload with
the previous config), and the error says what failed and what was restored.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfsctl.apply.atomic import remove_file, write_atomic
from tfsctl.apply.journal import Journal, RuntimeUndo, delete_journal
from tfsctl.apply.ops import RuntimeOps
from tfsctl.apply.recovery import undo_journal
from tfsctl.apply.smoke import Predict, run_smoke
from tfsctl.apply.wait import Expectation, ServingFailed, StatusProbe, wait_until_serving
from tfsctl.errors import TfsctlError
from tfsctl.failpoints import failpoint
from tfsctl.live.state import LiveServer
from tfsctl.plan.model import Change, ServerAction, ServerPlan
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.serverconfig.launch import host_side_file_path, side_files
from tfsctl.serverconfig.model_config import ModelEntry, host_model_config_path, render_text
from tfsctl.spec.model import Server, VersionSpec

Reload = Callable[[tuple[ModelEntry, ...]], None]
Export = Callable[[VersionSpec, Path, Callable[[str], None]], Any]


@dataclass
class ApplyContext:
    """The effects apply may use, injected so the sequence itself is testable."""

    ops: RuntimeOps
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
    """Apply failed; `restored` says what was put back."""

    def __init__(self, message: str, restored: list[str]):
        hint = ("restored: " + "; ".join(restored)) if restored else \
            "nothing had been changed yet: the server was not touched"
        super().__init__(message, hint)
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


def _entries_before_labels(plan: ServerPlan, live_entries: tuple[ModelEntry, ...] | None
                           ) -> tuple[ModelEntry, ...]:
    """The desired entries, with each pending label left where it is now (or unset).

    A server that starts afresh (replace, restart) keeps its labels where they were too:
    it runs with --allow_version_labels_for_unavailable_models, so it accepts them at
    start-up, and requests to `stable` keep reaching the old version instead of failing
    with "Unrecognized servable version label" until the second step.
    """
    pending = {(s.model, s.label) for s in plan.label_steps}
    live_labels = {e.name: e.label_map for e in live_entries or ()}
    entries = []
    for entry in plan.desired_entries:
        labels = []
        for label, version in entry.labels:
            if (entry.name, label) in pending:
                old = live_labels.get(entry.name, {}).get(label)
                if old is not None and old != version:
                    labels.append((label, old))
            else:
                labels.append((label, version))
        entries.append(ModelEntry(entry.name, entry.base_path, entry.platform, entry.policy,
                                  tuple(labels)))
    return tuple(entries)


def expectation(server: Server, plan: ServerPlan, live: LiveServer) -> Expectation:
    """Which versions must be AVAILABLE once the plan is applied."""
    serve: dict[str, frozenset[int]] = {}
    for model in server.models:
        model_dir = live.model_dir(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        on_disk |= {v.version for v in plan.exports if v.model == model.name}
        on_disk -= {v.version for v in plan.prunes if v.model == model.name}
        serve[model.name] = frozenset(model.policy.select(on_disk))
    for change in plan.models:
        if change.change is Change.DELETE:
            serve[change.name] = frozenset()
    return Expectation(serve)


class _Transaction:
    """Remembers what apply changed, so that a failure can put it back.

    Every change is recorded in the journal *before* it is made, so a process
    killed at any point leaves a record that recovery can undo it from.
    """

    def __init__(self, server: Server, live: LiveServer, ctx: ApplyContext):
        self.state_dir, self.ctx = server.resolved_state_dir, ctx
        self.journal = Journal(server.name)
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

    def runtime(self, action: ServerAction) -> RuntimeUndo:
        undo = self.ctx.ops.undo_for(action)
        self.record(lambda j: setattr(j, "runtime", undo))
        return undo

    def rollback(self) -> list[str]:
        """Undo everything; returns what was restored and what was not (the journal is kept
        when something was not, so the guardian or the next apply retries it)."""
        result = undo_journal(self.journal, self.ctx.ops, self.ctx.reload)
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
            self.ctx.ops.commit(self.journal.runtime)
        except TfsctlError as exc:
            self.ctx.progress(f"warning: could not remove the previous server ({exc.message}); "
                              "removed later by this apply's guardian or the next apply")
            return
        delete_journal(self.state_dir)


def _clean_leftovers(server: Server, live: LiveServer, progress: Callable[[str], None]) -> None:
    for model in server.models:
        model_dir = live.model_dir(model.name)
        for name in model_dir.temporary if model_dir else ():
            progress(f"removing leftover {name} of an interrupted export")
            shutil.rmtree(server.base_path(model) / name, ignore_errors=True)


def apply_server(server: Server, plan: ServerPlan, live: LiveServer, desired: DesiredRuntime,
                 ctx: ApplyContext, *, destroy: bool = False) -> ApplyReport:
    """Apply `plan` to one server; raises ApplyFailed after rolling back.

    `destroy` says the plan is a `tfsctl destroy` one: its action is NONE when the server
    is already gone, and it must still only remove files, never wait for a server to serve
    (it waited the whole --timeout for a server that was not there).
    """
    if plan.errors:
        raise TfsctlError(f"the plan for {server.name!r} has errors; nothing was changed",
                          "; ".join(h.message for h in plan.errors))
    report = ApplyReport(server.name, plan.action)
    if destroy or plan.action is ServerAction.DESTROY:
        _destroy(server, plan, live, ctx)
        return report
    tx = _Transaction(server, live, ctx)
    final_text = render_text(plan.desired_entries)
    first_entries = _entries_before_labels(plan, live.model_config.entries)
    config_path = host_model_config_path(server)
    previous_config = live.model_config.text if live.model_config.exists else None
    try:
        _clean_leftovers(server, live, ctx.progress)
        models = {m.name: m for m in server.models}
        for change in plan.exports:
            target = Path(change.target)
            kind = change.source.kind if change.source else "?"
            ctx.progress(f"exporting {change.model}/{change.version} from {kind}")
            tx.export(target)
            ctx.export(models[change.model].versions[change.version], target, ctx.progress)
            report.exported.append(f"{change.model}/{change.version}")
        failpoint("after-export")
        for side in side_files(server):
            live_file = live.side_file(side.name)
            previous = live_file.text if live_file and live_file.exists else None
            if previous != side.content:
                tx.write(host_side_file_path(server, side.name), side.content, previous)
        failpoint("after-side-files")
        action = plan.action
        started: float | None = None  # when the runtime began (re)starting the server
        if action is ServerAction.RELOAD or (action is ServerAction.NONE and plan.label_steps):
            ctx.progress("reloading the model config (hot, no downtime)")
            tx.reload(first_entries)
            failpoint("after-reload")
        elif action in (ServerAction.CREATE, ServerAction.REPLACE, ServerAction.RESTART,
                        ServerAction.START):
            tx.write(config_path, render_text(first_entries), previous_config)
            ctx.progress(f"{action.value}: {plan.reasons[0] if plan.reasons else ''}")
            operation = {ServerAction.CREATE: ctx.ops.create, ServerAction.REPLACE: ctx.ops.replace,
                         ServerAction.RESTART: ctx.ops.restart,
                         ServerAction.START: ctx.ops.restart}[action]
            tx.runtime(action)
            started = time.monotonic()
            operation(desired)
            failpoint("after-runtime")
        expect = expectation(server, plan, live)
        report.seconds_to_serve = wait_until_serving(expect, ctx.probe, timeout=ctx.timeout,
                                                     progress=ctx.progress)
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
        for model in server.models:
            for result in run_smoke(model, ctx.predict):
                report.smoke.append(f"{'ok' if result.ok else 'FAILED'} {model.name}: {result.name}")
                if not result.ok:
                    failures.append(f"smoke test {result.name!r} of {model.name}: {result.detail}")
        if failures:
            raise ServingFailed("; ".join(failures))
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - any failure rolls back
        ctx.progress(f"failed: {getattr(exc, 'message', exc)}; rolling back")
        restored = tx.rollback()
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise ApplyFailed(f"apply of server {server.name!r} failed: {message}", restored) from None
    tx.done()
    for change in plan.prunes:
        ctx.progress(f"pruning {change.model}/{change.version}")
        shutil.rmtree(change.target, ignore_errors=True)
        report.pruned.append(f"{change.model}/{change.version}")
    report.model_config_text = final_text
    return report


def _destroy(server: Server, plan: ServerPlan, live: LiveServer, ctx: ApplyContext) -> None:
    if plan.action is ServerAction.DESTROY:
        ctx.progress(f"removing the server {server.name!r}")
        ctx.ops.destroy()
    for file_change in plan.files:
        remove_file(host_side_file_path(server, file_change.name))
    remove_file(host_model_config_path(server))
    for prune in plan.prunes:  # destroy --purge
        ctx.progress(f"deleting {prune.model}/{prune.version}")
        shutil.rmtree(prune.target, ignore_errors=True)

