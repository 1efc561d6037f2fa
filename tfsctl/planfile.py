"""Saved plans: `tfsctl plan --out PLANFILE`, then `tfsctl apply PLANFILE` in any checkout.

A plan file is the whole input of apply: the plan (review half and execution
steps, docs/plan-json.md), the policy verdict, the source digests, and the exact
spec text it was made from (apply observes the live state through it, to refuse a
plan whose live state moved). Every path under the spec's anchor (its repository,
`tfsctl.anchor`) is written as `$ANCHOR/...`: the plan made in a pull request's
checkout applies in the merge job's, resolved against the checkout apply runs in.
It is written atomically, so an interrupted `plan --out` never leaves a half file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfsctl import __version__
from tfsctl.anchor import anchor_of, from_anchor, repository_root, to_anchor
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
    plan: Plan  # its paths resolved against `anchor`
    spec_text: str
    spec_file: Path  # where the spec stood when planned, in this checkout
    spec_sha256: str
    live_fingerprint: str
    created_at: str  # ISO 8601, UTC
    tfsctl_version: str  # the tfsctl that wrote it
    anchor: Path  # the checkout the plan applies in
    planned_in: str  # the checkout the plan was made in, as it was written

    @property
    def notes(self) -> list[str]:
        """What differs from where the plan was made, said before it applies."""
        found = []
        if str(self.anchor) != self.planned_in:
            found.append(f"applying in {self.anchor} (the plan was made in {self.planned_in})")
        try:
            current = self.spec_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            found.append(f"the spec is no longer at {self.spec_file}: applying the spec text "
                         "saved in the plan, as it was reviewed")
        else:
            if _sha256(current) != self.spec_sha256:
                found.append(f"{self.spec_file} changed since the plan was made: applying the "
                             "spec text saved in the plan, as it was reviewed")
        return found


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _relative(spec_file: Path, root: Path) -> str:
    """The spec's path from the anchor (resolved, as the anchor is)."""
    real = Path(os.path.realpath(spec_file))
    return str(real.relative_to(root)) if real.is_relative_to(root) else str(real)


def save_plan(path: Path, plan: Plan, *, spec_text: str, spec_file: Path) -> None:
    """Write `plan` and its spec to `path` atomically, paths under the plan's anchor written
    relative to it. Refuses a plan a policy denied: it must never apply."""
    if plan.denials:
        first = plan.denials[0]
        raise TfsctlError(f"not saving the plan: policy denied [{first.rule}]: {first.message}",
                          "change the spec (or the policy) and plan again")
    root = Path(plan.anchor) if plan.anchor else anchor_of(spec_file)
    document = {
        "kind": PLANFILE_KIND,
        "format_version": PLAN_FORMAT_VERSION,
        "tfsctl_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "anchor": {"planned_in": str(root),
                   "spec_file": _relative(spec_file, anchor_of(spec_file))},
        "spec_sha256": _sha256(spec_text),
        "live_fingerprint": plan.live_fingerprint,
        "spec_text": spec_text,
        "plan": to_anchor(plan_to_dict(plan), root),
    }
    write_atomic(Path(path), json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _read(path: Path) -> dict[str, Any]:
    return read_document(path, kind=PLANFILE_KIND, what="plan file",
                         description="a tfsctl plan file", hint=_REPLAN)


def find_checkout(spec_rel: str, planned_in: str, plan_file: Path, chdir: Path | None) -> Path:
    """The checkout a plan applies in: `--chdir`'s repository; else the first of the working
    directory's repository, the plan file's and the one it was made in that holds the spec
    (or, if none does, the first that exists)."""
    if chdir is not None:
        if not chdir.is_dir():
            raise TfsctlError(f"--chdir {chdir} is not a directory", "give the checkout's path")
        return repository_root(chdir) or Path(os.path.realpath(chdir))
    candidates = [repository_root(Path.cwd()), repository_root(plan_file.absolute().parent),
                  Path(planned_in)]
    found = [c for c in candidates if c is not None and c.is_dir()]
    if not found:
        raise TfsctlError(f"cannot tell which checkout {plan_file} applies in: the working "
                          f"directory is in no repository and {planned_in} is gone",
                          "run apply inside the checkout, or pass --chdir CHECKOUT")
    return next((c for c in found if (c / spec_rel).is_file()), found[0])


def load_plan(path: Path, chdir: Path | None = None) -> SavedPlan:
    """Read a plan file, its paths resolved against the checkout it applies in; TfsctlError
    if it is missing, corrupt, edited or of another format."""
    path = Path(path)
    data = _read(path)
    written_by = data.get("tfsctl_version", "unknown")
    if data.get("format_version") != PLAN_FORMAT_VERSION:
        raise TfsctlError(f"plan file {path} has format version {data.get('format_version')!r} "
                          f"(written by tfsctl {written_by}); this tfsctl {__version__} reads "
                          f"version {PLAN_FORMAT_VERSION}", _REPLAN)
    try:
        spec_text, digest = data["spec_text"], data["spec_sha256"]
        fingerprint, anchor = data["live_fingerprint"], data["anchor"]
        spec_rel, planned_in = str(anchor["spec_file"]), str(anchor["planned_in"])
        root = find_checkout(spec_rel, planned_in, path, chdir)
        saved = SavedPlan(plan=plan_from_dict(from_anchor(data["plan"], root)),
                          spec_text=spec_text, spec_file=root / spec_rel, spec_sha256=digest,
                          live_fingerprint=fingerprint, created_at=data["created_at"],
                          tfsctl_version=written_by, anchor=root, planned_in=planned_in)
    except (KeyError, TypeError) as exc:
        raise TfsctlError(f"plan file {path} is incomplete: no {exc}", _REPLAN) from None
    except TfsctlError as exc:
        raise TfsctlError(f"plan file {path}: {exc.message}", exc.hint) from None
    if not isinstance(spec_text, str) or _sha256(spec_text) != digest:
        raise TfsctlError(f"plan file {path} is corrupt: its spec text does not match its sha256",
                          _REPLAN)
    if fingerprint != saved.plan.live_fingerprint:
        raise TfsctlError(f"plan file {path} is corrupt: its live fingerprint does not match "
                          "the plan's", _REPLAN)
    if saved.plan.denials:
        first = saved.plan.denials[0]
        raise TfsctlError(f"plan file {path} was denied by policy [{first.rule}]: "
                          f"{first.message}; a denied plan is never applied",
                          "change the spec (or the policy) and plan again")
    return saved
