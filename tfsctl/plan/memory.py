"""Will the server's memory limit hold the versions it loads at once? Pure.

TF Serving loads a new version before it unloads the old one (availability first), so
during a reload the server holds the versions it serves now *and* the ones it will serve.
A container whose memory limit is below that is OOM-killed in the middle of a rollout.
The size of a version on disk is the estimate: a SavedModel's variables are loaded into
memory more or less as they are stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tfsctl.live.sources import SourceKey, SourceObservation
from tfsctl.live.state import LiveServer, VersionState
from tfsctl.plan.model import Change, Hazard, HazardKind, ServerAction, Severity, VersionChange
from tfsctl.spec.model import Server

#: Actions during which the old versions stay loaded while the new ones load.
_IN_PLACE = (ServerAction.NONE, ServerAction.RELOAD)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def memory_hazard(server: Server, live: LiveServer, versions: Iterable[VersionChange],
                  sources: Mapping[SourceKey, SourceObservation], action: ServerAction
                  ) -> Hazard | None:
    """A warning when the versions loaded at once during this change are larger on disk than
    the server's memory limit (docker `resources.memory`), naming each version and its size."""
    limit = server.runtime_options.resources.memory
    if limit is None:
        return None
    changes = list(versions)
    created = {(v.model, v.version) for v in changes if v.change is Change.CREATE}
    deleted = {(v.model, v.version) for v in changes if v.change is Change.DELETE}
    loaded: list[tuple[str, int, int, str]] = []  # model, version, size, why it is loaded
    for model in server.models:
        model_dir = live.model_dir(model.name)
        sizes = {v.version: v.size_bytes for v in (model_dir.versions if model_dir else ())
                 if v.complete and v.size_bytes is not None}
        for (server_name, model_name, version), seen in sources.items():
            if (server_name, model_name) == (server.name, model.name) and \
                    (model_name, version) in created and seen.size_bytes is not None:
                sizes[version] = seen.size_bytes
        available = (set(sizes) | {v for m, v in created if m == model.name}) - \
            {v for m, v in deleted if m == model.name}
        new = model.policy.select(available)
        served = live.report.model(model.name) if live.report.reachable else None
        old = {v.version for v in served.versions if v.state is VersionState.AVAILABLE} \
            if served is not None and action in _IN_PLACE else set()
        for version in sorted(old | new):
            if version in sizes:
                why = "served now" if version in old and version not in new else \
                    "new" if version not in old else "kept"
                loaded.append((model.name, version, sizes[version], why))
    total = sum(size for _, _, size, _ in loaded)
    if total <= limit:
        return None
    listed = ", ".join(f"{m}/{v} {_mib(size)} ({why})" for m, v, size, why in loaded)
    return Hazard(HazardKind.MEMORY_LIMIT, Severity.WARNING,
                  f"the memory limit {_mib(limit)} is below the {_mib(total)} on disk of the "
                  f"versions loaded at once ({listed}): TF Serving loads a new version before "
                  "it unloads the old one; raise resources.memory or roll out fewer versions "
                  "at a time")
