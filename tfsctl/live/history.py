"""The apply history of a server: one JSON file per apply in <state_dir>/history/.

Reading it is observation (plan uses the last success to detect drift), and
this module owns the file format, so the one writer — apply recording its
outcome — lives here too. Files are written atomically and numbered; a
damaged file is skipped, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tfsctl.live.state import LastApplied

HISTORY_DIR = "history"


@dataclass(frozen=True)
class HistoryEntry:
    sequence: int
    applied_at: str
    outcome: str  # success | rolled-back | destroyed
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


def last_applied(state_dir: Path) -> LastApplied | None:
    """The newest successful apply, or None; with the newest measured start gap."""
    entries = read_history(state_dir)
    gaps = [(e.start_gap_seconds, e.applied_at) for e in entries
            if e.outcome == "success" and e.start_gap_seconds is not None]
    gap, measured_at = gaps[-1] if gaps else (None, None)
    for entry in reversed(entries):
        if entry.outcome == "success":
            return LastApplied(entry.sequence, entry.applied_at, entry.spec_digest,
                               entry.model_config_text, entry.runtime_config_hash,
                               gap, measured_at)
        if entry.outcome == "destroyed":
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
