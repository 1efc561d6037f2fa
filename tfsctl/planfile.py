"""Saved plans: `tfsctl plan --out PLANFILE`, then `tfsctl apply PLANFILE`.

A plan file holds the plan (the JSON of docs/plan-json.md) together with the
exact spec text it was computed from, so apply re-plans from the same spec
even if the file on disk was edited since, and refuses when the live
fingerprint no longer matches. It is written atomically, so an interrupted
`plan --out` never leaves a half file that apply could misread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfsctl import __version__
from tfsctl.atomic import write_atomic
from tfsctl.errors import TfsctlError
from tfsctl.jsondoc import read_document
from tfsctl.plan.model import PLAN_FORMAT_VERSION, Plan
from tfsctl.plan.render.json import plan_from_dict, plan_to_dict

#: Marks the file as a tfsctl plan, so another JSON file is not mistaken for one.
PLANFILE_KIND = "tfsctl-plan"

_REPLAN = "make a new one: `tfsctl plan --out PLANFILE`"


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    spec_text: str
    spec_file: str
    spec_sha256: str
    live_fingerprint: str
    created_at: str  # ISO 8601, UTC
    tfsctl_version: str  # the tfsctl that wrote it


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def save_plan(path: Path, plan: Plan, *, spec_text: str, spec_file: str) -> None:
    """Write `plan` and its spec to `path` atomically (temp file, fsync, rename)."""
    document = {
        "kind": PLANFILE_KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "tfsctl_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_file": spec_file,
        "spec_sha256": _sha256(spec_text),
        "live_fingerprint": plan.live_fingerprint,
        "spec_text": spec_text,
        "plan": plan_to_dict(plan),
    }
    write_atomic(Path(path), json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _read(path: Path) -> dict[str, Any]:
    return read_document(path, kind=PLANFILE_KIND, what="plan file",
                         description="a tfsctl plan file", hint=_REPLAN)


def load_plan(path: Path) -> SavedPlan:
    """Read a plan file; TfsctlError if it is missing, corrupt, edited or from another format."""
    path = Path(path)
    data = _read(path)
    written_by = data.get("tfsctl_version", "unknown")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise TfsctlError(f"plan file {path} has format version {data.get('format_version')!r} "
                          f"(written by tfsctl {written_by}); this tfsctl {__version__} reads "
                          f"version {PLAN_FORMAT_VERSION}", _REPLAN)
    try:
        spec_text, digest = data["spec_text"], data["spec_sha256"]
        fingerprint = data["live_fingerprint"]
        saved = SavedPlan(plan=plan_from_dict(data["plan"]), spec_text=spec_text,
                          spec_file=data["spec_file"], spec_sha256=digest,
                          live_fingerprint=fingerprint, created_at=data["created_at"],
                          tfsctl_version=written_by)
    except KeyError as exc:
        raise TfsctlError(f"plan file {path} is incomplete: no {exc}", _REPLAN) from None
    except TfsctlError as exc:
        raise TfsctlError(f"plan file {path}: {exc.message}", exc.hint) from None
    if not isinstance(spec_text, str) or _sha256(spec_text) != digest:
        raise TfsctlError(f"plan file {path} is corrupt: its spec text does not match its sha256",
                          _REPLAN)
    if fingerprint != saved.plan.live_fingerprint:
        raise TfsctlError(f"plan file {path} is corrupt: its live fingerprint does not match "
                          "the plan's", _REPLAN)
    return saved
