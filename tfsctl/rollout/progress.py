"""Where a running canary stands, for `tfsctl status` in another terminal.

Apply writes the last judged interval of its canary to `<state_dir>/canary.json`
(atomically); the file counts only while apply's journal exists, i.e. while that apply
runs or before its guardian has undone it, so one left by a killed apply is never shown
as a canary in progress.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfsctl.atomic import remove_file, write_atomic
from tfsctl.journal import JOURNAL_FILE

PROGRESS_FILE = "canary.json"


def write_progress(state_dir: Path, progress: dict[str, Any]) -> None:
    write_atomic(state_dir / PROGRESS_FILE, json.dumps(progress, sort_keys=True) + "\n")


def clear_progress(state_dir: Path) -> None:
    remove_file(state_dir / PROGRESS_FILE)


def read_progress(state_dir: Path) -> dict[str, Any] | None:
    """The canary in progress on the server of `state_dir`, or None."""
    if not (state_dir / JOURNAL_FILE).exists():
        return None
    try:
        found = json.loads((state_dir / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
