"""Plans made without the live state, for pull requests: against a spec, or a snapshot.

Both run the same pure diff as `tfsctl plan`; only the "before" side differs,
and the plan says which it was (`Plan.baseline`). Neither contacts an engine
or a server. Secrets are not compared: the job that plans has none, and apply
reads them from its own environment.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tfsctl.cli.options import load_checked
from tfsctl.errors import TfsctlError
from tfsctl.live.baseline import converged_state, snapshot_states
from tfsctl.live.gateways import handler_digests
from tfsctl.live.snapshot import read_snapshot
from tfsctl.live.sources import observe_sources
from tfsctl.plan.diff import build_plan
from tfsctl.plan.model import Baseline, BaselineKind, Plan
from tfsctl.spec.errors import SpecError
from tfsctl.spec.load import LoadedSpec

_NO_SECRETS = ("secret_env values were not compared (this plan was made without them); "
               "apply reads them from its environment")


_OLD_HANDLERS = ("the old spec's gateways were compared with their handler files as they are in "
                 "this checkout: a handler's content change shows against the live state (or "
                 "a snapshot), its settings' changes show here")


def _blank_secrets(loaded: LoadedSpec) -> dict[str, str | None]:
    return {src: "" for server in loaded.spec.servers for src in server.secret_env.values()}


def _secret_notes(loaded: LoadedSpec) -> tuple[str, ...]:
    return (_NO_SECRETS,) if any(s.secret_env for s in loaded.spec.servers) else ()


def _load_as(file: Path, raw: bytes, at: Path, loaded: LoadedSpec,
             overrides: dict[str, str]) -> LoadedSpec:
    """Load `raw` as if it were the file `at` (its relative paths mean the same as there);
    problems are reported against `file`, where the text really is."""
    try:
        return load_checked(at, raw=raw, environment=loaded.environment, overrides=overrides)
    except SpecError as error:
        issues = [replace(i, location=replace(i.location, file=file)) for i in error.issues]
        raise SpecError(issues, error.source_lines) from None


def _read(path: Path, what: str, hint: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TfsctlError(f"cannot read {what} {path}: {exc.strerror}", hint) from None


def plan_against_spec(loaded: LoadedSpec, old_file: Path, overrides: dict[str, str],
                      servers: list[str], *, destroy: bool = False) -> Plan:
    """`loaded` compared with `old_file` as if that were applied and converged.

    `old_file` is read as if it stood where the new spec does (it is usually
    the same file on the base branch, written out with `git show`), so both
    specs' relative paths name the same places. An empty file stands for a base
    branch without the spec yet: nothing is deployed, everything is created.
    """
    raw = _read(old_file, "the spec to compare against", "e.g. git show origin/main:tfsctl.yaml "
                "> base.yaml, then --against base.yaml")
    old = _load_as(old_file, raw, loaded.file, loaded, overrides) if raw.strip() else None
    live = converged_state(old, loaded, servers)
    plan = build_plan(loaded, live, sources=observe_sources(loaded.spec, live),
                      secrets=_blank_secrets(loaded), servers=servers,
                      handlers=handler_digests(loaded.spec), destroy=destroy)
    handlers = (_OLD_HANDLERS,) if live.gateways else ()
    # no live state was involved: nothing for a saved plan to check against (apply refuses it)
    return replace(plan, baseline=Baseline(BaselineKind.SPEC, str(old_file)), live_fingerprint="",
                   notes=plan.notes + _secret_notes(loaded) + handlers)


def _roots_there(loaded: LoadedSpec, there: LoadedSpec) -> tuple[str | None, str | None]:
    """The spec's directory and anchor on the machine that took the snapshot: the anchor
    is as many levels above the spec there as this checkout's is above it here."""
    if there.base_dir is None:
        return None, None
    here_dir, here_anchor = Path(os.path.realpath(loaded.file)).parent, Path(loaded.anchor)
    depth = len(here_dir.relative_to(here_anchor).parts) if here_dir.is_relative_to(here_anchor) \
        else 0
    anchor = there.base_dir.parents[depth - 1] if depth else there.base_dir
    return str(there.base_dir), str(anchor)


def plan_against_snapshot(loaded: LoadedSpec, snapshot_file: Path, overrides: dict[str, str],
                          servers: list[str], *, destroy: bool = False,
                          now: datetime | None = None) -> tuple[Plan, Path]:
    """`loaded` compared with a live-state snapshot; also the spec's directory on the machine
    that took it (its paths in the plan stand for this checkout's)."""
    snapshot = read_snapshot(snapshot_file)
    raw = _read(loaded.file, "the spec", "check the path")
    there = _load_as(loaded.file, raw, snapshot.spec_path, loaded, overrides)
    states = snapshot_states(snapshot, there, servers)
    handlers = handler_digests(loaded.spec)  # this checkout's files: what apply will run
    plan = build_plan(there, states.for_planning,
                      sources=observe_sources(loaded.spec, states.for_planning),
                      secrets=_blank_secrets(loaded), servers=servers, handlers=handlers,
                      destroy=destroy)
    notes = [f"not in the snapshot: {item}" for item in states.unknown]
    if snapshot.environment != loaded.environment:
        notes.append(f"the snapshot was taken for environment {snapshot.environment or '(none)'}, "
                     f"this plan is for {loaded.environment or '(none)'}")
    taken_at = snapshot.taken_at.astimezone(UTC)
    baseline = Baseline(BaselineKind.SNAPSHOT, str(snapshot_file),
                        taken_at.isoformat(timespec="seconds"),
                        snapshot.age_seconds(now or datetime.now(UTC)))
    spec_dir, anchor = _roots_there(loaded, there)
    plan = replace(plan, spec_file=str(loaded.file), baseline=baseline, anchor=anchor or "",
                   live_fingerprint=states.observed.fingerprint(spec_dir, anchor, handlers),
                   notes=plan.notes + tuple(notes) + _secret_notes(loaded))
    return plan, snapshot.spec_path.parent
