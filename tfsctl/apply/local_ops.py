"""Apply's runtime operations for `runtime: local`: a `tfsctl serve` process.

A local server cannot keep an old process while a new one binds the same
ports, so replace and restart stop the old process first; their undo starts
a process again with the previous arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tfsctl.runtimes import local
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.spec.model import Server


@dataclass
class _Undo:
    action: Callable[[], object]

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        self.action()


class LocalOps:
    def __init__(self, server: Server):
        self.server = server
        self.state_dir = server.resolved_state_dir

    def _start(self, desired: DesiredRuntime) -> None:
        local.start(self.state_dir, desired.args, desired.plain_env(), desired.config_hash())

    def _previous(self) -> Callable[[], object]:
        """Undo: stop whatever runs now, and start the previous process again."""
        before = local.observe(self.state_dir)

        def undo() -> None:
            local.stop(self.state_dir)
            if before is not None and before.alive:
                local.start(self.state_dir, before.args, {}, before.config_hash or "")

        return undo

    def create(self, desired: DesiredRuntime) -> _Undo:
        local.stop(self.state_dir)  # a stale record, if any
        self._start(desired)
        return _Undo(lambda: local.stop(self.state_dir))

    def replace(self, desired: DesiredRuntime) -> _Undo:
        undo = self._previous()
        local.stop(self.state_dir)
        self._start(desired)
        return _Undo(undo)

    restart = replace

    def destroy(self) -> None:
        local.stop(self.state_dir)
