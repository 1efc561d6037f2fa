"""Live states that were not observed just now: another spec's, or a snapshot's.

A pull request's CI job usually cannot reach the production engine or server,
so `tfsctl plan` there compares the new spec with one of these instead:

- `converged_state(old, new)`: the state `old` would leave once applied and
  converged (its versions on disk, its model.config and side files, its
  runtime running with its settings, every served version AVAILABLE). Version
  dirs that exist in the checkout are read too: they are files of the pull
  request. Nothing else is touched: no engine, no server.
- `snapshot_states(snapshot, new)`: a snapshot's state, completed for what the
  new spec names and the snapshot could not know (a new server, a new model).

Both return plain `LiveState`s, so the planner diffs them exactly like an
observed one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tfsctl.live.gateways import file_digest
from tfsctl.live.observe import observe_model_dirs
from tfsctl.live.snapshot import Snapshot
from tfsctl.live.state import (
    ConfigFile,
    ExportRecord,
    LiveGateway,
    LiveServer,
    LiveState,
    ModelDir,
    RuntimeState,
    RuntimeStatus,
    ServedModel,
    ServedVersion,
    ServerReport,
    VersionDir,
    VersionState,
)
from tfsctl.runtimes.desired import desired_model_entries, desired_runtime
from tfsctl.runtimes.gateway import GatewayState
from tfsctl.runtimes.registry import gateway_profile
from tfsctl.serverconfig.launch import BATCHING_FILE, MONITORING_FILE, side_files
from tfsctl.serverconfig.model_config import host_model_config_path, render_text
from tfsctl.spec.load import LoadedSpec
from tfsctl.spec.model import Server
from tfsctl.spec.model_spec import ModelSpec

_SIDE_FILES = (BATCHING_FILE, MONITORING_FILE)


def _changed_source_record(old: ModelSpec, new: ModelSpec, version: int) -> ExportRecord | None:
    """When the new spec gives an existing version another source, a record of the old one,
    so the planner's source-changed check sees it (versions are immutable)."""
    from tfsctl.live.sources import source_kind, source_path

    old_source = old.versions[version].source if version in old.versions else None
    new_spec = new.versions.get(version)
    new_source = new_spec.source if new_spec else None
    if old_source is None or new_source is None or old_source == new_source:
        return None
    from tfsctl.live.fingerprint import fingerprint_source

    try:
        fingerprint = fingerprint_source(old_source)
    except OSError:
        return None  # the old source is not in this checkout: nothing to compare
    return ExportRecord(version, source_kind(old_source), str(source_path(old_source)), fingerprint)


def _converged_dir(on_disk: ModelDir, old: ModelSpec | None, new: ModelSpec,
                   same_place: bool) -> ModelDir:
    """The model dir once `old` is applied: its declared versions, plus what is on disk."""
    if old is None or not same_place:
        return on_disk
    found = {v.version: v for v in on_disk.versions}
    for version in old.versions:
        found.setdefault(version, VersionDir(version, str(version), True))
    records = tuple(r for r in (_changed_source_record(old, new, v) for v in sorted(old.versions))
                    if r is not None)
    return replace(on_disk, exists=True, versions=tuple(found[v] for v in sorted(found)),
                   exports=on_disk.exports + records)


def _served(server: Server, model_dirs: dict[str, ModelDir]) -> ServerReport:
    models = []
    for model in server.models:
        model_dir = model_dirs.get(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        versions = tuple(ServedVersion(v, VersionState.AVAILABLE)
                         for v in sorted(model.policy.select(on_disk)))
        models.append(ServedModel(model.name, versions))
    return ServerReport(True, models=tuple(models))


def _absent_server(new: Server, model_dirs: tuple[tuple[str, ModelDir], ...]) -> LiveServer:
    return LiveServer(
        name=new.name, model_dirs=model_dirs,
        model_config=ConfigFile(host_model_config_path(new), False),
        side_files=tuple((name, ConfigFile(new.model_root / name, False)) for name in _SIDE_FILES),
        runtime=RuntimeState(RuntimeStatus.MISSING), report=ServerReport(False, error="not running"))


def converged_server(old: Server | None, new: Server) -> LiveServer:
    """`new`'s server as `old` would have left it (absent when `old` has no such server)."""
    on_disk = observe_model_dirs(new)
    if old is None:
        return _absent_server(new, on_disk)
    old_models = {m.name: m for m in old.models}
    model_dirs = tuple(
        (model.name, _converged_dir(found, old_models.get(model.name), model,
                                    model.name in old_models
                                    and old.base_path(old_models[model.name]) == found.base_path))
        for model, (_, found) in zip(new.models, on_disk, strict=True))
    entries = desired_model_entries(old)
    wanted = {f.name: f.content for f in side_files(old)}
    desired = desired_runtime(old)
    return LiveServer(
        name=new.name, model_dirs=model_dirs,
        model_config=ConfigFile(host_model_config_path(old), True, render_text(entries), entries),
        side_files=tuple((name, ConfigFile(old.model_root / name, name in wanted, wanted.get(name)))
                         for name in _SIDE_FILES),
        runtime=RuntimeState(RuntimeStatus.RUNNING, desired.config_hash({}),
                             tuple(sorted(desired.stamped_settings().items()))),
        report=_served(old, dict(model_dirs)),
    )


def converged_state(old: LoadedSpec | None, new: LoadedSpec, servers: list[str]) -> LiveState:
    """The state `old` leaves once applied, for `new`'s selected servers (None: no spec yet,
    nothing deployed). Secrets are left blank on both sides (`plan` compares them with the
    same blank values)."""
    return LiveState(tuple(converged_server(old.spec.server(server.name) if old else None, server)
                           for server in new.spec.servers if server.name in servers),
                     converged_gateways(old, new, servers) if old else ())


def converged_gateways(old: LoadedSpec, new: LoadedSpec, servers: list[str]
                       ) -> tuple[LiveGateway, ...]:
    """What `old` runs for `new`'s selected servers once applied: each of its gateways
    started from its settings, with its handler file as it is in this checkout (the old
    spec's text is all there is of the base branch)."""
    found = []
    for gateway in old.spec.gateways:
        server = old.spec.server(gateway.server)
        if server is None or gateway.server not in servers or new.spec.server(server.name) is None:
            continue
        launch = gateway_profile(server.runtime).launch(
            gateway, server, file_digest(str(gateway.handler)) or "")
        found.append(LiveGateway(gateway.name, server.name, GatewayState(
            RuntimeStatus.RUNNING, launch.config_hash, tuple(sorted(launch.settings().items())),
            launch.handler_digest)))
    return tuple(found)


@dataclass(frozen=True)
class SnapshotStates:
    """A snapshot's state for a spec: as the machine that took it would observe it (for the
    plan's live fingerprint), and as the planner compares it (settings hashes without
    secrets); plus what the snapshot could not know."""

    observed: LiveState
    for_planning: LiveState
    unknown: tuple[str, ...]


def _completed(known: LiveServer, new: Server, unknown: list[str]) -> LiveServer:
    """`known` with an entry for each of `new`'s models (a model the snapshot did not cover
    is planned as absent, and said so) and the unmanaged dirs as `new` sees them."""
    dirs = dict(known.model_dirs)
    model_dirs = []
    for model in new.models:
        base = new.base_path(model)
        found = dirs.get(model.name)
        if found is None or found.base_path != base:
            if base.parent == new.model_root and base.name in known.unmanaged_models:
                unknown.append(f"model {model.name!r} of server {new.name!r}: its directory "
                               "exists but the snapshot did not list its versions")
            found = ModelDir(base, False)
        model_dirs.append((model.name, found))
    seen = set(known.unmanaged_models) | {
        d.base_path.name for _, d in known.model_dirs if d.exists and d.base_path.parent == new.model_root}
    named = {new.base_path(m) for m in new.models}
    unmanaged = tuple(sorted(n for n in seen if new.model_root / n not in named))
    return replace(known, model_dirs=tuple(model_dirs), unmanaged_models=unmanaged)


def snapshot_states(snapshot: Snapshot, new: LoadedSpec, servers: list[str]) -> SnapshotStates:
    """`new` must be loaded as if it were at `snapshot.spec_path`, so paths compare."""
    observed, planning, unknown = [], [], []
    for server in new.spec.servers:
        if server.name not in servers:
            continue
        known = snapshot.state.server(server.name)
        if known is None:
            unknown.append(f"server {server.name!r}: not in the snapshot, planned as new")
            state = _absent_server(server, tuple((m.name, ModelDir(server.base_path(m), False))
                                                 for m in server.models))
        else:
            state = _completed(known, server, unknown)
        observed.append(state)
        settings = snapshot.settings_hashes.get(server.name)
        planning.append(replace(state, runtime=replace(state.runtime, config_hash=settings))
                        if settings else state)
    gateways = tuple(g for g in snapshot.state.gateways if g.server in servers
                     and new.spec.server(g.server) is not None)
    return SnapshotStates(LiveState(tuple(observed), gateways), LiveState(tuple(planning), gateways),
                          tuple(unknown))
