"""Apply's runtime operations for `runtime: local`: a `tfsctl serve` process.

A local server cannot keep an old process while a new one binds the same
ports, so a replace stops the old process first; its undo starts a process
again with the previous arguments (recorded in the journal beforehand, so a
killed apply can be undone too).
"""

from __future__ import annotations

from pathlib import Path

from tfsctl.apply.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.failpoints import failpoint
from tfsctl.plan.model import ServerAction
from tfsctl.runtimes import local
from tfsctl.runtimes.desired import DesiredRuntime


class LocalOps:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    def undo_for(self, action: ServerAction) -> RuntimeUndo:
        before = local.observe(self.state_dir)
        if action is ServerAction.CREATE or before is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        return RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS, before.args, before.config_hash or "",
                           before.alive)

    def _start(self, desired: DesiredRuntime) -> None:
        local.start(self.state_dir, desired.args, desired.plain_env(), desired.config_hash())

    def create(self, desired: DesiredRuntime) -> None:
        local.stop(self.state_dir)  # a stale record, if any
        self._start(desired)

    def replace(self, desired: DesiredRuntime) -> None:
        local.stop(self.state_dir)
        failpoint("during-replace")
        self._start(desired)

    restart = replace  # a process cannot re-read its flags: restarting is replacing

    def undo(self, undo: RuntimeUndo) -> None:
        local.stop(self.state_dir)
        if undo.kind is not RuntimeUndoKind.REMOVE and undo.was_running and undo.args:
            local.start(self.state_dir, undo.args, {}, undo.config_hash)

    def commit(self, undo: RuntimeUndo) -> None:
        """Nothing is kept aside for a local server."""

    def revive(self) -> bool:
        recorded = local.observe(self.state_dir)
        if recorded is None or recorded.alive:
            return False
        local.start(self.state_dir, recorded.args, {}, recorded.config_hash or "")
        return True

    def destroy(self) -> None:
        local.stop(self.state_dir)
