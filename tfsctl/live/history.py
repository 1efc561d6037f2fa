"""The apply history of a server: one JSON file per apply in <state_dir>/history/.

Reading it is observation (plan uses the last success to detect drift), and
this module owns the file format, so the one writer — apply recording its
outcome — lives here too. Files are written atomically and numbered; a
damaged file is skipped, never fatal.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from tfsctl.live.state import LastApplied
from tfsctl.spec.model_spec import SmokeTest

HISTORY_DIR = "history"


class Outcome(StrEnum):
    """How an apply ended, one word each (`tfsctl history` prints it)."""

    SUCCESS = "success"  # applied and verified
    DESTROYED = "destroyed"  # a destroy plan ran: nothing is deployed any more
    ROLLED_BACK = "rolled-back"  # failed, and everything it changed was put back
    FAILED = "failed"  # failed, and part of the rollback failed too (the journal retries it)
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM: rolled back
    #: a canary's analysis (or too little traffic) stopped it: rolled back, the change pending
    CANARY_ABORTED = "canary-aborted"
    UNDONE = "undone"  # killed (SIGKILL, OOM, a lost runner), undone from its journal later


@dataclass(frozen=True)
class HistoryEntry:
    sequence: int
    applied_at: str
    outcome: str  # an Outcome
    user: str
    spec_file: str
    spec_digest: str
    spec: dict[str, Any] = field(default_factory=dict)
    model_config_text: str = ""
    runtime_config_hash: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    #: seconds without a server when this apply (re)started it: the gap the next plan quotes
    start_gap_seconds: float | None = None


def _dir(state_dir: Path) -> Path:
    return state_dir / HISTORY_DIR


def read_history(state_dir: Path) -> list[HistoryEntry]:
    entries = []
    folder = _dir(state_dir)
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("[0-9]*.json")):
        try:
            data = json.loads(path.read_text())
            entries.append(HistoryEntry(**{k: data[k] for k in HistoryEntry.__dataclass_fields__
                                           if k in data}))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(entries, key=lambda e: e.sequence)


def _smoke(entry: HistoryEntry, server: str) -> tuple[tuple[str, tuple[SmokeTest, ...]], ...]:
    """The smoke requests the entry's plan verified for `server` (none in older formats)."""
    from pydantic import ValidationError

    planned = entry.plan.get("servers") if isinstance(entry.plan, dict) else None
    found = next((s for s in planned or () if isinstance(s, dict) and s.get("name") == server),
                 None)
    smoke = found.get("smoke") if found else None
    if not isinstance(smoke, dict):
        return ()
    try:
        return tuple((model, tuple(SmokeTest.model_validate(t) for t in tests))
                     for model, tests in smoke.items())
    except (ValidationError, TypeError):
        return ()


def last_applied(state_dir: Path, server: str = "") -> LastApplied | None:
    """The newest successful apply of `server`, or None; with the newest measured start gap
    and the smoke requests it verified."""
    entries = read_history(state_dir)
    gaps = [(e.start_gap_seconds, e.applied_at) for e in entries
            if e.outcome == Outcome.SUCCESS and e.start_gap_seconds is not None]
    gap, measured_at = gaps[-1] if gaps else (None, None)
    for entry in reversed(entries):
        if entry.outcome == Outcome.SUCCESS:
            return LastApplied(entry.sequence, entry.applied_at, entry.spec_digest,
                               entry.model_config_text, entry.runtime_config_hash,
                               gap, measured_at, _smoke(entry, server))
        if entry.outcome == Outcome.DESTROYED:
            return None
    return None


def append_history(state_dir: Path, entry: HistoryEntry) -> Path:
    """Record `entry` under the next sequence number; returns the file written."""
    from tfsctl.atomic import write_atomic

    existing = read_history(state_dir)
    sequence = (existing[-1].sequence if existing else 0) + 1
    path = _dir(state_dir) / f"{sequence:06d}.json"
    write_atomic(path, json.dumps(asdict(replace(entry, sequence=sequence)), indent=2,
                                  sort_keys=True) + "\n")
    return path


def record_undone(state_dir: Path, server: str, pid: int, restored: list[str]) -> Path:
    """Record that an interrupted apply (process `pid`) was undone from its journal, and what
    that put back: by its guardian, or by the next apply before it planned."""
    return append_history(state_dir, HistoryEntry(
        sequence=0, applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
        outcome=Outcome.UNDONE.value, user=getpass.getuser(), spec_file="", spec_digest="",
        message=f"apply (pid {pid}) was killed; put back from its journal: "
                + ("; ".join(restored) or "nothing had been changed")))
