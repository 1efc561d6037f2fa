"""Version directories: which to export, which to prune, which are broken.

Pure: compares the spec's declared versions with the observed model directory
and the observed sources.
"""

from __future__ import annotations

from collections.abc import Mapping

from tfsctl.live.sources import SourceKey, SourceObservation, source_kind, source_path
from tfsctl.live.state import ModelDir
from tfsctl.plan.model import Change, Hazard, HazardKind, Severity, SourceRef, VersionChange
from tfsctl.spec.model import ModelSpec, Server


def would_serve(model: ModelSpec, on_disk: set[int]) -> set[int]:
    """The versions the server will load once exports are done (policy over disk + spec)."""
    return model.policy.select(on_disk | set(model.versions))


def plan_versions(server: Server, model: ModelSpec, model_dir: ModelDir | None,
                  sources: Mapping[SourceKey, SourceObservation]
                  ) -> tuple[list[VersionChange], list[Hazard]]:
    changes: list[VersionChange] = []
    hazards: list[Hazard] = []
    base = server.base_path(model)
    on_disk = {v.version for v in model_dir.versions} if model_dir else set()
    served = would_serve(model, on_disk)

    def hazard(kind: HazardKind, severity: Severity, message: str, version: int | None = None
               ) -> None:
        hazards.append(Hazard(kind, severity, message, model=model.name, version=version))

    if model_dir is not None and model_dir.escapes_root:
        hazard(HazardKind.PATH_ESCAPE, Severity.ERROR, model_dir.escapes_root)
    for leftover in model_dir.temporary if model_dir else ():
        hazard(HazardKind.INTERRUPTED_EXPORT, Severity.WARNING,
               f"{base / leftover} is left from an interrupted export; apply removes it")

    for version, vspec in sorted(model.versions.items()):
        found = model_dir.version(version) if model_dir else None
        if found is not None:
            if not found.complete:
                hazard(HazardKind.VERSION_INCOMPLETE, Severity.ERROR,
                       f"version dir {base / found.name} is incomplete ({found.problem}); "
                       "remove it so tfsctl can export it again, or repair it", version)
                continue
            observed = sources.get((server.name, model.name, version))
            record = model_dir.export_record(version) if model_dir else None
            if observed and record and observed.problem:
                hazard(HazardKind.SOURCE_MISSING, Severity.WARNING,
                       f"cannot check whether the source of version {version} changed: "
                       f"{observed.problem}", version)
            if observed and observed.fingerprint and record and \
                    record.source_fingerprint != observed.fingerprint:
                hazard(HazardKind.SOURCE_CHANGED, Severity.ERROR,
                       f"the source of version {version} changed after it was exported; "
                       "versions are immutable: export it under a new version number", version)
            continue
        if vspec.source is None:
            if version in served:
                hazard(HazardKind.VERSION_MISSING, Severity.ERROR,
                       f"version {version} is not on disk at {base} and has no source to "
                       "export from; add a `source:` or copy the version dir there", version)
            continue
        observed = sources.get((server.name, model.name, version))
        if observed is not None and not observed.exists:
            hazard(HazardKind.SOURCE_MISSING, Severity.ERROR,
                   f"cannot export version {version}: {observed.problem}", version)
        changes.append(VersionChange(
            model=model.name, version=version, change=Change.CREATE,
            reason="missing on disk",
            source=SourceRef(source_kind(vspec.source), str(source_path(vspec.source))),
            target=str(base / str(version)), source_spec=vspec.source,
            warmup=tuple(model.warmup_requests)))

    if model.prune and model.versions:
        for found in model_dir.versions if model_dir else ():
            if found.version not in model.versions:
                changes.append(VersionChange(
                    model=model.name, version=found.version, change=Change.DELETE,
                    reason="not declared in the spec, and the model has `prune: true`",
                    target=str(base / found.name)))

    if not served:
        hazard(HazardKind.NOTHING_SERVED, Severity.ERROR,
               f"no version to serve: nothing on disk at {base} and none declared",)
    return changes, hazards

