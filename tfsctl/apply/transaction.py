"""The effects apply may use, and the transaction that journals and undoes them.

`ApplyContext` is the world as the step executors see it (the runtime driver,
status probe, reload, export and predict), injected so that the sequence itself
is testable with fakes. `Transaction` remembers what apply changed, so that a
failure, or the guardian after a SIGKILL, can put it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfsctl.apply.recovery import undo_journal
from tfsctl.apply.smoke import Predict
from tfsctl.apply.wait import StatusProbe
from tfsctl.atomic import remove_file, write_atomic
from tfsctl.errors import TfsctlError
from tfsctl.journal import Journal, RuntimeUndo, delete_journal
from tfsctl.live.state import LiveServer
from tfsctl.plan.execution import ExportVersion
from tfsctl.runtimes.base import RuntimeDriver, Step
from tfsctl.serverconfig.model_config import ModelEntry

Reload = Callable[[tuple[ModelEntry, ...]], None]
Export = Callable[[ExportVersion, Path, Callable[[str], None]], Any]


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


class Transaction:
    """Every change is recorded in the journal *before* it is made, so a process killed
    at any point leaves a record that recovery can undo it from."""

    def __init__(self, name: str, live: LiveServer, ctx: ApplyContext):
        self.state_dir, self.ctx = ctx.driver.state_dir, ctx
        self.journal = Journal(name)
        self.live = live
        self.live_config = live.model_config.text if live.model_config.exists else None
        self.started = False

    @property
    def touched_server(self) -> bool:
        """Whether the running server was changed (reloaded, started, replaced)."""
        return self.journal.runtime is not None or self.journal.reload_previous is not None

    def record(self, change: Callable[[Journal], object]) -> None:
        """Add one undo step to the journal and persist it (before the change is made)."""
        if not self.started:
            self.started = True
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.ctx.guard()
        change(self.journal)
        self.journal.save(self.state_dir)

    def previous_text(self, path: Path) -> str | None:
        """What `path` held before this apply (None: it did not exist)."""
        if str(path) in self.journal.files:
            return self.journal.files[str(path)]
        if path == self.live.model_config.path:
            return self.live_config
        side = next((f for _, f in self.live.side_files if f.path == path), None)
        return side.text if side is not None and side.exists else None

    def write(self, path: Path, text: str) -> None:
        previous = self.previous_text(path)
        self.record(lambda j: j.files.setdefault(str(path), previous))
        write_atomic(path, text)

    def remove(self, path: Path) -> None:
        previous = self.previous_text(path)
        self.record(lambda j: j.files.setdefault(str(path), previous))
        remove_file(path)

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

    def done(self, verified: Callable[[], None]) -> None:
        """The apply is verified: mark it committed, tell `verified` (which records the
        success), then drop what was kept aside.

        Marked first, so that a failure to clean up (an engine error deleting the old
        container) or a kill can never make a later recovery undo a verified apply:
        recovery finishes the commit instead. Recorded before the clean-up (a drain can
        take its whole timeout), so a kill during it still leaves the success in history.
        """
        if self.journal.runtime is None:
            delete_journal(self.state_dir)
            verified()
            return
        self.record(lambda j: setattr(j, "committed", True))
        verified()
        try:
            self.ctx.driver.commit(self.journal.runtime)
        except TfsctlError as exc:
            self.ctx.progress(f"warning: could not remove the previous server ({exc.message}); "
                              "removed later by this apply's guardian or the next apply")
            return
        delete_journal(self.state_dir)
