"""Undo an apply from its journal: after a failure in-process, or after it was killed.

The same steps serve both cases, so the path a SIGKILL takes is the path every
failing test already exercises. Each step is tried even if an earlier one
failed (a server that went away must not stop the files from being restored),
and whatever could not be undone is reported and left in the journal for the
next attempt, never silently dropped.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tfsctl.atomic import TEMP_PREFIX, remove_file, write_atomic
from tfsctl.errors import TfsctlError
from tfsctl.journal import Journal, delete_journal, load_journal
from tfsctl.live.history import record_undone
from tfsctl.runtimes.base import RuntimeDriver
from tfsctl.serverconfig.model_config import ModelEntry, parse_text

Reload = Callable[[tuple[ModelEntry, ...]], None]

#: How long a server started again by an undo may take to answer.
REVIVE_TIMEOUT = 300.0


@dataclass
class UndoResult:
    restored: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _message(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def _attempt(result: UndoResult, what: str, step: Callable[[], object]) -> None:
    try:
        step()
    except Exception as exc:  # noqa: BLE001 - every step is tried; failures are reported
        result.failed.append(f"{what}: {_message(exc)}")
        return
    result.restored.append(what)


def undo_journal(journal: Journal, ops: RuntimeDriver, reload: Reload) -> UndoResult:
    """Put back files, remove new version dirs, then restore the server itself."""
    result = UndoResult()
    for name, previous in journal.files.items():
        path = Path(name)
        if previous is None:
            _attempt(result, f"removed {path.name}", partial(remove_file, path))
        else:
            _attempt(result, f"previous {path.name}", partial(write_atomic, path, previous))
    for target in reversed(journal.exported):
        _attempt(result, f"removed new version dir {target}", partial(_remove_export, Path(target)))
    if journal.runtime is not None:
        runtime_undo = journal.runtime
        _attempt(result, "previous server", lambda: ops.undo(runtime_undo))
    elif journal.reload_previous is not None:
        _reload_previous(result, parse_text(journal.reload_previous), ops, reload)
    return result


def _remove_export(target: Path) -> None:
    """The version dir, and the exporter's work dir beside it if the export was cut short."""
    shutil.rmtree(target, ignore_errors=True)
    for work in target.parent.glob(f"{TEMP_PREFIX}{target.name}-*"):
        shutil.rmtree(work, ignore_errors=True)


def finish_commit(journal: Journal, ops: RuntimeDriver) -> UndoResult:
    """A verified apply whose clean-up did not happen: drop the old server kept aside."""
    result = UndoResult()
    runtime_undo = journal.runtime
    if runtime_undo is not None:
        _attempt(result, "removed the previous server kept aside by a verified apply",
                 lambda: ops.commit(runtime_undo))
    return result


def _reload_previous(result: UndoResult, entries: tuple[ModelEntry, ...], ops: RuntimeDriver,
                     reload: Reload) -> None:
    """Give the server its previous model config back; if the server went away meanwhile,
    start it again instead: it reads the (already restored) model.config at start."""
    try:
        reload(entries)
    except Exception as exc:  # noqa: BLE001 - reported below
        why = _message(exc)
        try:
            revived = ops.revive()
        except Exception as revive_error:  # noqa: BLE001
            result.failed.append(f"previous model config: the reload failed ({why}) and the server "
                                 f"could not be started again ({_message(revive_error)})")
            return
        if revived:
            try:
                ops.wait_answering(REVIVE_TIMEOUT)
            except Exception as down:  # noqa: BLE001 - reported
                result.failed.append(f"previous model config: the server was started again but "
                                     f"does not answer ({_message(down)})")
                return
            result.restored.append("the server had gone away: started it again with the previous "
                                   "model config (it answers)")
        else:
            result.failed.append(f"previous model config (reload): {why}")
        return
    result.restored.append("previous model config (reloaded)")


def recover(state_dir: Path, ops: RuntimeDriver, reload: Reload,
            progress: Callable[[str], None] = lambda _: None) -> list[str] | None:
    """Undo an interrupted apply, if its journal is here; call with the server's lock held.

    Returns what was restored (None when there was nothing to recover), and records the
    undo in the server's history; raises when something could not be undone, keeping the
    journal so that a later call retries.
    """
    journal = load_journal(state_dir)
    if journal is None:
        return None
    if journal.committed:
        result = finish_commit(journal, ops)
    else:
        progress(f"an earlier apply (pid {journal.pid}, started {journal.started_at}) was "
                 "interrupted: undoing it first")
        result = undo_journal(journal, ops, reload)
    if result.failed:
        raise TfsctlError(f"recovering the interrupted apply of {journal.server!r} failed: "
                          + "; ".join(result.failed),
                          "fix the cause (is the Docker engine up?) and run tfsctl apply again; "
                          f"the undo record stays in {state_dir}")
    if not journal.committed:
        record_undone(state_dir, journal.server, journal.pid, result.restored)
    delete_journal(state_dir)
    return result.restored
