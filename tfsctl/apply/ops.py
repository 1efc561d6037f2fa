"""What apply asks of a runtime (docker or local) for one server.

Every disruptive step is described *before* it is taken by a `RuntimeUndo`
(plain data, saved in the apply's journal), so that the step can be taken
back by this process after a failure, or by another one after this process
was killed (see journal.py and recovery.py).
"""

from __future__ import annotations

from typing import Protocol

from tfsctl.apply.journal import RuntimeUndo
from tfsctl.plan.model import ServerAction
from tfsctl.runtimes.desired import DesiredRuntime


class RuntimeOps(Protocol):
    def undo_for(self, action: ServerAction) -> RuntimeUndo:
        """How to take back `action`, read from the runtime as it is now (no change)."""
        ...

    def create(self, desired: DesiredRuntime) -> None: ...

    def replace(self, desired: DesiredRuntime) -> None:
        """Swap the running server for one made from `desired` (also used to restart)."""
        ...

    def restart(self, desired: DesiredRuntime) -> None:
        """Restart the server so that it re-reads its side files (batching, monitoring)."""
        ...

    def undo(self, undo: RuntimeUndo) -> None: ...

    def commit(self, undo: RuntimeUndo) -> None:
        """The new server is verified: drop what was kept to undo the step."""
        ...

    def revive(self) -> bool:
        """Start the server again as it was, if it exists but does not run; True if it did."""
        ...

    def destroy(self) -> None: ...
