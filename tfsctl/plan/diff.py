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
from tfsctl.live.state import HandlerDigests, LiveServer, LiveState, RuntimeStatus
from tfsctl.plan.canary import canary_action, canary_pins
from tfsctl.plan.drift import history_drift, member_drift, report_drift
from tfsctl.plan.entries import diff_entries, reload_refusals
from tfsctl.plan.execution import ServerExecution
from tfsctl.plan.gateways import plan_gateways
from tfsctl.plan.labels import label_steps
from tfsctl.plan.memory import memory_hazard
from tfsctl.plan.model import (
    Change,
    FileChange,
    Hazard,
    HazardKind,
    ModelChange,
    Plan,
    ServerAction,
    ServerPlan,
    Severity,
    VersionChange,
)
from tfsctl.plan.schedule import destroy_steps, first_entries, server_steps
from tfsctl.plan.settings_diff import image_rebuilt, settings_changes
from tfsctl.plan.versions import pin_entries, plan_versions, served_after
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.desired import DesiredRuntime, desired_model_entries, desired_runtime
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.runtimes.registry import profile
from tfsctl.serverconfig.launch import host_side_file_path, side_files
from tfsctl.serverconfig.model_config import host_model_config_path
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


def _replace_reasons(server: Server, runtime_profile: RuntimeProfile, live: LiveServer,
                     desired: DesiredRuntime, wanted_hash: str) -> list[str]:
    """Why the running server no longer matches: each setting that changed, a rebuilt image."""
    runtime = live.runtime
    reasons = []
    if runtime.config_hash != wanted_hash:
        after = desired.stamped_settings()
        if runtime.settings is None:
            reasons.append(f"the {runtime_profile.noun} was made by an older tfsctl or by "
                           "hand: its settings are not known")
        else:
            reasons += runtime_profile.change_notes(dict(runtime.settings), after)
            reasons += settings_changes(dict(runtime.settings), after)
            if not reasons:
                reasons.append("a secret value (secret_env) changed")
    rebuilt = image_rebuilt(runtime, server.runtime_options.image)
    if rebuilt:
        reasons.append(rebuilt)
    return reasons


def _rollout(server: Server, runtime: RuntimeProfile, live: LiveServer,
             desired: DesiredRuntime) -> str | None:
    """How the runtime rolls this change without downtime, or None: it does not roll, or a
    setting changes that it can change only by stopping the server (see `stops_for`)."""
    note = runtime.rollout(server)
    if note is None or live.runtime.settings is None:
        return note
    before, after = dict(live.runtime.settings), desired.stamped_settings()
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    return None if changed & runtime.stops_for else note


def _runtime_action(server: Server, runtime_profile: RuntimeProfile, live: LiveServer,
                    desired: DesiredRuntime, wanted_hash: str, files: tuple[FileChange, ...],
                    models: tuple[ModelChange, ...], destroy: bool
                    ) -> tuple[ServerAction, list[str]]:
    runtime = live.runtime
    kind = runtime_profile.noun
    if destroy:
        if runtime.status in (RuntimeStatus.RUNNING, RuntimeStatus.STOPPED):
            return ServerAction.DESTROY, [f"the {kind} is removed (model versions are kept)"]
        return ServerAction.NONE, []
    if runtime.status is RuntimeStatus.UNREACHABLE:
        return ServerAction.NONE, [f"the runtime did not answer; nothing can be planned for the {kind}"]
    if runtime.status is RuntimeStatus.MISSING:
        return ServerAction.CREATE, [f"no {kind} is running for this server"]
    rolling = _rollout(server, runtime_profile, live, desired)
    replace = _replace_reasons(server, runtime_profile, live, desired, wanted_hash)
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


def _escapes(server: Server, live: LiveServer) -> list[Hazard]:
    """Deleting through a symlink that leads out of the root (destroy --purge): refused."""
    hazards = []
    for model in server.models:
        model_dir = live.model_dir(model.name)
        if model_dir is not None and model_dir.escapes_root:
            hazards.append(Hazard(HazardKind.PATH_ESCAPE, Severity.ERROR,
                                  f"{model_dir.escapes_root}; --purge deletes only inside it",
                                  model=model.name))
    return hazards


def _destroy_plan(server: Server, runtime: RuntimeProfile, live: LiveServer, purge: bool
                  ) -> tuple[ServerPlan, ServerExecution]:
    versions = tuple(_purge(server, live)) if purge else ()
    hazards = _escapes(server, live) if purge else []
    desired = desired_runtime(server, runtime)
    files = _file_changes(server, live, True)
    models = tuple(ModelChange(e.name, Change.DELETE) for e in live.model_config.entries or ())
    action, reasons = _runtime_action(server, runtime, live, desired, "", files, models, True)
    plan = ServerPlan(name=server.name, runtime=server.runtime, action=action,
                      reasons=tuple(reasons), versions=versions, models=models, files=files,
                      hazards=tuple(hazards), drift=tuple(history_drift(live) + member_drift(live)))
    steps = destroy_steps(name=server.name, target=RuntimeTarget.of(server), action=action,
                          files=files, versions=versions,
                          model_config_path=str(host_model_config_path(server)))
    return plan, steps


def diff_server(server: Server, live: LiveServer, *,
                sources: Mapping[SourceKey, SourceObservation],
                secrets: Mapping[str, str | None], destroy: bool = False,
                purge: bool = False) -> tuple[ServerPlan, ServerExecution]:
    """The server's review half and its execution half."""
    runtime = profile(server.runtime)
    if destroy:
        return _destroy_plan(server, runtime, live, purge)
    hazards: list[Hazard] = []
    versions: list[VersionChange] = []
    for model in server.models:
        found_versions, found_hazards = plan_versions(server, model, live.model_dir(model.name),
                                                      sources)
        versions += found_versions
        hazards += found_hazards
    for name in sorted(src for src in server.secret_env.values() if secrets.get(src) is None):
        hazards.append(Hazard(HazardKind.SECRET_MISSING, Severity.ERROR,
                              f"secret_env needs ${name} in tfsctl's environment; it is not set"))
    desired = desired_runtime(server, runtime)
    wanted_hash = desired.config_hash({k: v for k, v in secrets.items() if v is not None})
    serve, pins, pin_hazards = served_after(server, live, versions)
    hazards += pin_hazards
    entries = pin_entries(desired_model_entries(server, runtime), canary_pins(server, serve, pins))
    live_entries = live.model_config.entries
    if live.model_config.exists and live.model_config.error:
        hazards.append(Hazard(HazardKind.UNREADABLE_CONFIG, Severity.WARNING,
                              f"{live.model_config.path} does not parse ({live.model_config.error})"
                              "; apply replaces it"))
    models = diff_entries(live_entries, entries)
    serve.update({change.name: () for change in models if change.change is Change.DELETE})
    files = _file_changes(server, live, False)
    action, reasons = _runtime_action(server, runtime, live, desired, wanted_hash, files, models,
                                      False)
    rolling = _rollout(server, runtime, live, desired) is not None
    action, reasons, canary = canary_action(server, runtime, live, action, reasons, rolling)
    if live.runtime.status is RuntimeStatus.UNREACHABLE:
        hazards.append(Hazard(HazardKind.ENGINE_UNREACHABLE, Severity.ERROR,
                              f"the runtime is unreachable: {live.runtime.detail}"))
    if live.interrupted_apply:
        hazards.append(Hazard(HazardKind.INTERRUPTED_APPLY, Severity.WARNING,
                              f"an earlier apply was interrupted ({live.interrupted_apply}): its "
                              "guardian finishes it, or the next apply does before it plans, so "
                              "part of this plan may vanish"))
    memory = memory_hazard(server, live, versions, sources, action)
    if memory is not None:
        hazards.append(memory)
    rolls = rolling and action in (ServerAction.REPLACE, ServerAction.RESTART)
    if action.downtime and not rolls:
        hazards.append(Hazard(HazardKind.DOWNTIME, Severity.WARNING,
                              f"{action.value}: {_expected_gap(live)}; a reload would not"))
    smoke = tuple((m.name, tuple(m.smoke)) for m in server.models if m.smoke)
    waiting = label_steps(server, runtime.starts_gated, live, action, versions, live_entries)
    plan = ServerPlan(
        name=server.name, runtime=server.runtime, action=action, reasons=tuple(reasons),
        versions=tuple(versions), models=models, files=files, label_steps=waiting,
        hazards=tuple(hazards),
        drift=tuple(history_drift(live) + member_drift(live)
                    + report_drift(server, live, frozenset(m.name for m in models))),
        desired_entries=entries, runtime_config_hash=wanted_hash, serve=tuple(serve.items()),
        smoke=smoke, rolling=rolling, canary=canary)
    model_dirs = (live.model_dir(m.name) for m in server.models)
    steps = server_steps(
        name=server.name, target=RuntimeTarget.of(server), action=action, reasons=tuple(reasons),
        desired_runtime=desired, versions=tuple(versions),
        secrets_digest=desired.secrets_digest({k: v for k, v in secrets.items() if v is not None}),
        files=files, digests={(m, v): o.fingerprint for (s, m, v), o in sources.items()
                              if s == server.name and o.fingerprint},
        entries=entries, first=first_entries(entries, waiting, live_entries, serve),
        label_steps=waiting, serve=serve,
        model_config_path=str(host_model_config_path(server)),
        smoke=smoke, cleanup=tuple(str(d.base_path / name) for d in model_dirs if d is not None
                      for name in d.temporary),
        canary=canary, metrics_path=server.served_monitoring.path if canary and
        server.served_monitoring else "",
        exports_while_starting=runtime.starts_gated
        and (rolls or action is ServerAction.CREATE))
    return plan, steps


def build_plan(loaded: LoadedSpec, live: LiveState, *,
               sources: Mapping[SourceKey, SourceObservation],
               secrets: Mapping[str, str | None], servers: Iterable[str] | None = None,
               handlers: HandlerDigests = (), destroy: bool = False, purge: bool = False) -> Plan:
    """The plan for the selected servers (all by default), in spec order, and their
    gateways' (`handlers`: the handler files' digests, observed like the sources)."""
    selected = set(servers) if servers is not None else None
    plans, execution = [], []
    for server in loaded.spec.servers:
        if selected is not None and server.name not in selected:
            continue
        live_server = live.server(server.name)
        if live_server is None:
            raise ValueError(f"live state has no server {server.name!r}; observe it first")
        review, steps = diff_server(server, live_server, sources=sources, secrets=secrets,
                                    destroy=destroy, purge=purge)
        plans.append(review)
        execution.append(steps)
    return Plan(servers=tuple(plans), spec_file=str(loaded.file), spec_digest=loaded.digest,
                anchor=loaded.anchor, environment=loaded.environment,
                live_fingerprint=live.fingerprint(*loaded.fingerprint_roots(), handlers),
                destroy=destroy, execution=tuple(execution),
                gateways=plan_gateways(loaded.spec, live.gateways, handlers, selected,
                                       destroy=destroy))
