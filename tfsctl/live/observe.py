"""Read all live state once, for the selected servers (SQLMesh's ContextDiff idea).

Everything plan needs is gathered here, read-only, before the pure diff runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tfsctl.journal import load_journal
from tfsctl.live.configfiles import read_model_config, read_side_files
from tfsctl.live.gateways import observe_gateways
from tfsctl.live.history import last_applied
from tfsctl.live.modeldir import Confinement, observe_model_dir
from tfsctl.live.report import observe_report
from tfsctl.live.state import LiveServer, LiveState, ModelDir, RuntimeStatus, ServerReport
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.registry import driver, profile
from tfsctl.spec.load import LoadedSpec
from tfsctl.spec.model import Server


def _root_entries(server: Server) -> list[os.DirEntry[str]]:
    """The model root's dirs, listed once per observation: for unmanaged models and for
    which base paths need resolving."""
    try:
        with os.scandir(server.model_root) as found:
            return [e for e in found if e.is_dir() and e.name != ".tfsctl"]
    except OSError:
        return []


def _unmanaged(server: Server, entries: list[os.DirEntry[str]]) -> tuple[str, ...]:
    named = {str(server.base_path(m)) for m in server.models}
    return tuple(sorted(e.name for e in entries if e.path not in named))


def _confinement(server: Server, entries: list[os.DirEntry[str]]) -> Confinement | None:
    """The root a model dir must resolve into, or None when the runtime lets base paths leave
    it (validate accepts them there, so plan must too)."""
    if not profile(server.runtime).confines_base_paths(server):
        return None
    return Confinement.of(server.model_root, entries)


def observe_model_dirs(server: Server, entries: list[os.DirEntry[str]] | None = None,
                       ) -> tuple[tuple[str, ModelDir], ...]:
    """Each of the spec's models' base path on disk, by model name, in spec order;
    `entries` is the model root's listing when the caller has it."""
    confinement = _confinement(server, _root_entries(server) if entries is None else entries)
    return tuple((m.name, observe_model_dir(server.base_path(m), confinement))
                 for m in server.models)


def observe_server(server: Server, *, report: bool = True) -> LiveServer:
    model_config = read_model_config(server)
    root = _root_entries(server)
    target = RuntimeTarget.of(server)
    runtime = driver(target).observe(server.runtime_options.image)
    server_report = ServerReport(False, error="not asked")
    if report and runtime.status is RuntimeStatus.RUNNING:
        names = [m.name for m in server.models] + [e.name for e in model_config.entries or ()]
        server_report = observe_report(target.endpoint.rest, names)
    return LiveServer(
        name=server.name,
        model_dirs=observe_model_dirs(server, root),
        model_config=model_config,
        side_files=read_side_files(server),
        runtime=runtime,
        report=server_report,
        last_applied=last_applied(server.resolved_state_dir, server.name),
        unmanaged_models=_unmanaged(server, root),
        interrupted_apply=_interrupted_apply(server),
    )


def _interrupted_apply(server: Server) -> str | None:
    journal = load_journal(server.resolved_state_dir)
    if journal is None:
        return None
    return f"pid {journal.pid}, started {journal.started_at}" + (
        ", verified; only its clean-up is left" if journal.committed else "")


def observe(loaded: LoadedSpec, *, servers: Iterable[str] | None = None,
            report: bool = True) -> LiveState:
    selected = set(servers) if servers is not None else None
    observed = tuple(observe_server(s, report=report) for s in loaded.spec.servers
                     if selected is None or s.name in selected)
    return LiveState(observed, observe_gateways(loaded.spec, [s.name for s in observed]))
