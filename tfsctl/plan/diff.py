"""diff(desired, live) -> Plan. Pure: no files, no engine, no network.

Inputs are the validated spec, the live state observed once beforehand, the
observed sources and the secret values (already read from the environment by
the caller). The server action is the least disruptive one that makes the
server match the spec:

    nothing changed                     -> none
    only model.config changed           -> reload (hot, no downtime)
    batching/monitoring files changed   -> restart (read only at start)
    image/ports/flags/env/resources     -> replace, naming each setting that changed
    no container/process                -> create

What the runtime is called and which settings it has come from its profile
(tfsctl/runtimes/): the planner never asks which runtime it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tfsctl.live.sources import SourceKey, SourceObservation
from tfsctl.live.state import LiveServer, LiveState, RuntimeStatus, VersionState
from tfsctl.plan.entries import diff_entries, reload_refusals
from tfsctl.plan.memory import memory_hazard
from tfsctl.plan.model import (
    Change,
    Drift,
    DriftKind,
    FileChange,
    Hazard,
    HazardKind,
    LabelStep,
    ModelChange,
    Plan,
    ServerAction,
    ServerPlan,
    Severity,
    VersionChange,
)
from tfsctl.plan.settings_diff import image_rebuilt, settings_changes
from tfsctl.plan.steps import entries_before_labels, served_after
from tfsctl.plan.versions import plan_versions
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.desired import DesiredRuntime, desired_model_entries, desired_runtime
from tfsctl.runtimes.registry import profile
from tfsctl.serverconfig.launch import host_side_file_path, side_files
from tfsctl.serverconfig.model_config import ModelEntry, host_model_config_path
from tfsctl.spec.load import LoadedSpec
from tfsctl.spec.model import Server


def _file_changes(server: Server, live: LiveServer, destroy: bool) -> tuple[FileChange, ...]:
    wanted = {} if destroy else {f.name: f.content for f in side_files(server)}
    changes = []

    def change(name: str, kind: Change) -> FileChange:
        return FileChange(name, kind, str(host_side_file_path(server, name)), wanted.get(name))

    for name, live_file in live.side_files:
        if name in wanted:
            if not live_file.exists:
                changes.append(change(name, Change.CREATE))
            elif live_file.text != wanted[name]:
                changes.append(change(name, Change.UPDATE))
        elif live_file.exists:
            changes.append(change(name, Change.DELETE))
    known = {name for name, _ in live.side_files}
    changes += [change(name, Change.CREATE) for name in wanted if name not in known]
    return tuple(changes)


def _purge(server: Server, live: LiveServer) -> list[VersionChange]:
    """destroy --purge: every version dir of the spec's models goes too."""
    changes = []
    for model in server.models:
        model_dir = live.model_dir(model.name)
        for found in model_dir.versions if model_dir else ():
            changes.append(VersionChange(model.name, found.version, Change.DELETE,
                                         "destroy --purge",
                                         target=str(server.base_path(model) / found.name)))
    return changes


def _drift(live: LiveServer) -> list[Drift]:
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


def _member_drift(live: LiveServer) -> list[Drift]:
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


def _replace_reasons(server: Server, live: LiveServer, desired: DesiredRuntime,
                     wanted_hash: str) -> list[str]:
    """Why the running server no longer matches: each setting that changed, a rebuilt image."""
    runtime = live.runtime
    reasons = []
    if runtime.config_hash != wanted_hash:
        after = desired.stamped_settings()
        if runtime.settings is None:
            reasons.append(f"the {profile(server.runtime).noun} was made by an older tfsctl or by "
                           "hand: its settings are not known")
        else:
            reasons += profile(server.runtime).change_notes(dict(runtime.settings), after)
            reasons += settings_changes(dict(runtime.settings), after)
            if not reasons:
                reasons.append("a secret value (secret_env) changed")
    rebuilt = image_rebuilt(runtime, server.image)
    if rebuilt:
        reasons.append(rebuilt)
    return reasons


def _rollout(server: Server, live: LiveServer, desired: DesiredRuntime) -> str | None:
    """How the runtime rolls this change without downtime, or None: it does not roll, or a
    setting changes that it can change only by stopping the server (see `stops_for`)."""
    runtime = profile(server.runtime)
    note = runtime.rollout(server)
    if note is None or live.runtime.settings is None:
        return note
    before, after = dict(live.runtime.settings), desired.stamped_settings()
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    return None if changed & runtime.stops_for else note


def _runtime_action(server: Server, live: LiveServer, desired: DesiredRuntime, wanted_hash: str,
                    files: tuple[FileChange, ...], models: tuple[ModelChange, ...],
                    destroy: bool) -> tuple[ServerAction, list[str]]:
    runtime = live.runtime
    kind = profile(server.runtime).noun
    if destroy:
        if runtime.status in (RuntimeStatus.RUNNING, RuntimeStatus.STOPPED):
            return ServerAction.DESTROY, [f"the {kind} is removed (model versions are kept)"]
        return ServerAction.NONE, []
    if runtime.status is RuntimeStatus.UNREACHABLE:
        return ServerAction.NONE, [f"the runtime did not answer; nothing can be planned for the {kind}"]
    if runtime.status is RuntimeStatus.MISSING:
        return ServerAction.CREATE, [f"no {kind} is running for this server"]
    rolling = _rollout(server, live, desired)
    replace = _replace_reasons(server, live, desired, wanted_hash)
    if replace:
        return ServerAction.REPLACE, [rolling, *replace] if rolling else replace
    if runtime.status is RuntimeStatus.STOPPED:
        return ServerAction.START, [f"the {kind} exists but is stopped"]
    if files:
        return ServerAction.RESTART, ([rolling] if rolling else []) + [
            "batching or monitoring settings are read only at start: "
            + ", ".join(f.name for f in files)]
    if reload_refusals(models):
        return ServerAction.REPLACE, ([rolling] if rolling else []) + reload_refusals(models)
    if models:
        return ServerAction.RELOAD, ["model config only: hot reload, no downtime"]
    return ServerAction.NONE, []


def _expected_gap(live: LiveServer) -> str:
    """How long requests will fail, from the gap measured when this server last started."""
    last = live.last_applied
    if last is None or last.start_gap_seconds is None:
        return ("the server stops answering until it has started and loaded its models "
                "(not measured on this server yet: typically a few seconds plus model load time)")
    return (f"the server stops answering for about {last.start_gap_seconds:.1f}s (start and model "
            f"loads, as measured when apply last started it, {last.start_gap_measured_at}); "
            "longer if the new versions are larger")


def _label_steps(server: Server, live: LiveServer, action: ServerAction,
                 versions: Iterable[VersionChange], live_entries: tuple[ModelEntry, ...] | None
                 ) -> tuple[LabelStep, ...]:
    """Labels that a running TF Serving would refuse now: their version is not AVAILABLE yet.

    Apply first loads the version (config without the label), waits until it
    is AVAILABLE, then sets the label. Servers run with
    --allow_version_labels_for_unavailable_models (so that they can restart from
    their model.config), which still refuses label *moves* and would let a new
    label answer errors until its version loads: the two steps stay.
    """
    if profile(server.runtime).labels_at_start:
        return ()  # each new copy starts with every label and serves once all are AVAILABLE
    # A starting server checks labels once it has loaded only each model's newest version
    # (TF Serving's start-up), so labels on other versions need the second step too.
    fresh_server = action in (ServerAction.CREATE, ServerAction.REPLACE, ServerAction.RESTART,
                              ServerAction.START)
    exporting = {(v.model, v.version) for v in versions if v.change is Change.CREATE}
    live_labels = {e.name: e.label_map for e in live_entries or ()}
    steps = []
    for model in server.models:
        for label, version in sorted(model.labels.items()):
            if live_labels.get(model.name, {}).get(label) == version and not fresh_server:
                continue
            served = live.report.model(model.name) if live.report.reachable else None
            available = served is not None and served.state_of(version) is VersionState.AVAILABLE
            if fresh_server or (model.name, version) in exporting or not available:
                steps.append(LabelStep(model.name, label, version))
    return tuple(steps)


def _report_drift(server: Server, live: LiveServer) -> list[Drift]:
    """Versions on disk that the server should serve but does not report AVAILABLE."""
    if not live.report.reachable or live.runtime.status is not RuntimeStatus.RUNNING:
        return []
    drift = []
    for model in server.models:
        served = live.report.model(model.name)
        model_dir = live.model_dir(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        for version in sorted(model.policy.select(on_disk) & on_disk):
            state = served.state_of(version) if served else None
            if state is not VersionState.AVAILABLE:
                drift.append(Drift(DriftKind.VERSION_NOT_SERVED,
                                   f"{model.name} version {version} is on disk but the server "
                                   f"reports it {state.value if state else 'unknown'}"))
    return drift


def diff_server(server: Server, live: LiveServer, *,
                sources: Mapping[SourceKey, SourceObservation],
                secrets: Mapping[str, str | None], destroy: bool = False,
                purge: bool = False) -> ServerPlan:
    hazards: list[Hazard] = []
    versions: list[VersionChange] = _purge(server, live) if destroy and purge else []
    if destroy and purge:  # deleting through a symlink that leads out of the root: refuse
        for model in server.models:
            model_dir = live.model_dir(model.name)
            if model_dir is not None and model_dir.escapes_root:
                hazards.append(Hazard(HazardKind.PATH_ESCAPE, Severity.ERROR,
                                      f"{model_dir.escapes_root}; --purge deletes only inside it",
                                      model=model.name))
    if not destroy:
        for model in server.models:
            found_versions, found_hazards = plan_versions(server, model,
                                                          live.model_dir(model.name), sources)
            versions += found_versions
            hazards += found_hazards
    # destroying a server starts nothing, so it needs no secret value
    missing = [] if destroy else sorted(
        src for src in server.secret_env.values() if secrets.get(src) is None)
    for name in missing:
        hazards.append(Hazard(HazardKind.SECRET_MISSING, Severity.ERROR,
                              f"secret_env needs ${name} in tfsctl's environment; it is not set"))
    desired = desired_runtime(server)
    wanted_hash = desired.config_hash({k: v for k, v in secrets.items() if v is not None})
    entries = () if destroy else desired_model_entries(server)
    live_entries = live.model_config.entries
    if live.model_config.exists and live.model_config.error:
        hazards.append(Hazard(HazardKind.UNREADABLE_CONFIG, Severity.WARNING,
                              f"{live.model_config.path} does not parse ({live.model_config.error})"
                              "; apply replaces it"))
    if destroy:
        models: tuple[ModelChange, ...] = tuple(
            ModelChange(e.name, Change.DELETE) for e in live_entries or ())
    else:
        models = diff_entries(live_entries, entries)
    files = _file_changes(server, live, destroy)
    action, reasons = _runtime_action(server, live, desired, wanted_hash, files, models, destroy)
    if live.runtime.status is RuntimeStatus.UNREACHABLE:
        hazards.append(Hazard(HazardKind.ENGINE_UNREACHABLE, Severity.ERROR,
                              f"the runtime is unreachable: {live.runtime.detail}"))
    if live.interrupted_apply:
        hazards.append(Hazard(HazardKind.INTERRUPTED_APPLY, Severity.WARNING,
                              f"an earlier apply was interrupted ({live.interrupted_apply}): its "
                              "guardian finishes it, or the next apply does before it plans, so "
                              "part of this plan may vanish"))
    memory = None if destroy else memory_hazard(server, live, versions, sources, action)
    if memory is not None:
        hazards.append(memory)
    rolling = _rollout(server, live, desired) is not None
    rolls = rolling and action in (ServerAction.REPLACE, ServerAction.RESTART)
    if action.downtime and action is not ServerAction.DESTROY and not rolls:
        hazards.append(Hazard(HazardKind.DOWNTIME, Severity.WARNING,
                              f"{action.value}: {_expected_gap(live)}; a reload would not"))
    drift = _drift(live) + _member_drift(live) + ([] if destroy else _report_drift(server, live))
    steps = () if destroy else _label_steps(server, live, action, versions, live_entries)
    model_dirs = (live.model_dir(m.name) for m in server.models)
    return ServerPlan(
        name=server.name, runtime=server.runtime.value, action=action, reasons=tuple(reasons),
        versions=tuple(versions), models=models, files=files, label_steps=steps,
        hazards=tuple(hazards), drift=tuple(drift), desired_entries=entries,
        runtime_config_hash=wanted_hash,
        target=RuntimeTarget.of(server),
        desired_runtime=None if destroy else desired,
        model_config_path=str(host_model_config_path(server)),
        first_entries=entries_before_labels(entries, steps, live_entries),
        serve=() if destroy else served_after(server, live, tuple(versions), models),
        smoke=() if destroy else tuple((m.name, tuple(m.smoke)) for m in server.models if m.smoke),
        cleanup=tuple(str(d.base_path / name) for d in model_dirs if d is not None
                      for name in d.temporary),
        rolling=rolling,
    )


def build_plan(loaded: LoadedSpec, live: LiveState, *,
               sources: Mapping[SourceKey, SourceObservation],
               secrets: Mapping[str, str | None], servers: Iterable[str] | None = None,
               destroy: bool = False, purge: bool = False) -> Plan:
    """The plan for the selected servers (all by default), in spec order."""
    selected = set(servers) if servers is not None else None
    plans = []
    for server in loaded.spec.servers:
        if selected is not None and server.name not in selected:
            continue
        live_server = live.server(server.name)
        if live_server is None:
            raise ValueError(f"live state has no server {server.name!r}; observe it first")
        plans.append(diff_server(server, live_server, sources=sources, secrets=secrets,
                                 destroy=destroy, purge=purge))
    return Plan(servers=tuple(plans), spec_file=str(loaded.file), spec_digest=loaded.digest,
                environment=loaded.environment, live_fingerprint=live.fingerprint(loaded.anchor),
                destroy=destroy)

