"""Drift: where the live state differs from what the last apply left (pure).

Drift is reported, not planned: the plan's changes already say what apply does
about it; these lines say why the live state is not what the history expects.
"""

from __future__ import annotations

from tfsctl.live.state import LiveServer, RuntimeStatus, VersionState
from tfsctl.plan.model import Drift, DriftKind
from tfsctl.plan.versions import served_versions
from tfsctl.spec.model import Server


def history_drift(live: LiveServer) -> list[Drift]:
    drift: list[Drift] = []
    last = live.last_applied
    if last is None:
        return drift
    if live.model_config.exists and live.model_config.text != last.model_config_text:
        drift.append(Drift(DriftKind.CONFIG_EDITED,
                           f"{live.model_config.path} was changed since the last apply "
                           f"(#{last.sequence}, {last.applied_at}); apply overwrites it"))
    elif not live.model_config.exists:
        drift.append(Drift(DriftKind.CONFIG_EDITED,
                           f"{live.model_config.path} was removed since the last apply"))
    status = live.runtime.status
    if status is RuntimeStatus.MISSING:
        drift.append(Drift(DriftKind.RUNTIME_GONE, "the server was removed since the last apply"))
    elif status is RuntimeStatus.STOPPED:
        drift.append(Drift(DriftKind.RUNTIME_STOPPED,
                           f"the server is stopped ({live.runtime.detail or 'not running'})"))
    elif (status is RuntimeStatus.RUNNING and last.runtime_config_hash
          and live.runtime.config_hash != last.runtime_config_hash):
        drift.append(Drift(DriftKind.RUNTIME_CHANGED,
                           "the running server was not created by the last apply"))
    return drift


def member_drift(live: LiveServer) -> list[Drift]:
    """Copies of a replicated server that differ from it: on an old config, restarting."""
    drift = []
    for member in live.runtime.members:
        if not member.current:
            drift.append(Drift(DriftKind.MEMBER, f"{member.name} on {member.where} still runs "
                                                 f"the settings of an earlier apply ({member.state})"))
        if member.restarts:
            drift.append(Drift(DriftKind.MEMBER, f"{member.name} on {member.where} failed and was "
                                                 f"restarted {member.restarts} time(s)"
                                                 + (f": {member.detail}" if member.detail else "")))
    return drift


def report_drift(server: Server, live: LiveServer, pending: frozenset[str]) -> list[Drift]:
    """Versions on disk that the server should serve but does not report AVAILABLE; not for
    the models in `pending`, whose model.config entry the plan changes anyway."""
    if not live.report.reachable or live.runtime.status is not RuntimeStatus.RUNNING:
        return []
    drift = []
    for model in (m for m in server.models if m.name not in pending):
        served = live.report.model(model.name)
        model_dir = live.model_dir(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        for version in sorted(served_versions(model, on_disk)[0] & on_disk):
            state = served.state_of(version) if served else None
            if state is not VersionState.AVAILABLE:
                drift.append(Drift(DriftKind.VERSION_NOT_SERVED,
                                   f"{model.name} version {version} is on disk but the server "
                                   f"reports it {state.value if state else 'unknown'}"))
    return drift
