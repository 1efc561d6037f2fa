"""A write-ahead undo log: what an apply in progress has changed, kept on disk.

An apply killed with SIGKILL (or whose machine lost power) cannot roll back
in-process. So before each change the transaction records, atomically, how to
undo it in `<state_dir>/apply.journal.json`; a successful apply and a finished
rollback delete the file. Whoever next holds the server's lock finds a journal
only if an apply was interrupted, and undoes that apply from it (see
`recovery.py`): the server goes back to what served before, as if the apply had
failed cleanly. The journal holds paths, model.config texts and process
arguments, never secret values.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tfsctl.atomic import remove_file, write_atomic

JOURNAL_FILE = "apply.journal.json"


class RuntimeUndoKind(StrEnum):
    """How to take back the runtime step of an apply."""

    REMOVE = "remove"  # the server did not exist before: remove what was created
    RESTORE_PREVIOUS = "restore-previous"  # put the previous container/process back
    RESTART = "restart"  # same container, restarted: restart it again (files already restored)


@dataclass(frozen=True)
class RuntimeUndo:
    kind: RuntimeUndoKind
    #: whether the previous server was running (a stopped one is not started by the undo)
    was_running: bool = True
    #: what the runtime needs to start the previous server again, in its own terms (the
    #: local runtime: its process record); plain JSON, never secret values
    previous: dict[str, Any] = field(default_factory=dict)


@dataclass
class Journal:
    """The undo record of one apply on one server (mutable: it grows step by step)."""

    server: str
    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: version dirs this apply renamed into place (removed again on undo)
    exported: list[str] = field(default_factory=list)
    #: files this apply wrote -> their previous text (None: the file did not exist)
    files: dict[str, str | None] = field(default_factory=dict)
    #: the previous model.config text, set before the server is given a new config by
    #: reload (None: not reloaded, or there was no previous config to go back to)
    reload_previous: str | None = None
    runtime: RuntimeUndo | None = None
    #: the apply was verified; only dropping what was kept aside (the old container) remains
    committed: bool = False

    def save(self, state_dir: Path) -> None:
        write_atomic(state_dir / JOURNAL_FILE, json.dumps(asdict(self), indent=2) + "\n", mode=0o600)


def load_journal(state_dir: Path) -> Journal | None:
    """The journal of an interrupted apply, or None. An unreadable one counts as none:
    the next plan still shows every difference, so nothing is hidden."""
    try:
        data = json.loads((state_dir / JOURNAL_FILE).read_text())
        runtime = data.pop("runtime", None)
        journal = Journal(**data)
        if runtime is not None:
            journal.runtime = RuntimeUndo(RuntimeUndoKind(runtime["kind"]), runtime["was_running"],
                                          dict(runtime["previous"]))
        return journal
    except (OSError, ValueError, TypeError, KeyError):
        return None


def delete_journal(state_dir: Path) -> None:
    remove_file(state_dir / JOURNAL_FILE)
