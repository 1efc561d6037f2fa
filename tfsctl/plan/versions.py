"""Version directories: which to export, which to prune, which are broken, which are served.

Pure: compares the spec's declared versions with the observed model directory
and the observed sources.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from tfsctl.live.sources import SourceKey, SourceObservation, source_kind, source_path
from tfsctl.live.state import LiveServer, ModelDir
from tfsctl.plan.model import Change, Hazard, HazardKind, Severity, SourceRef, VersionChange
from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy
from tfsctl.spec.model import Server
from tfsctl.spec.model_spec import ModelSpec, PolicyKind


def served_versions(model: ModelSpec, on_disk: set[int]) -> tuple[set[int], bool]:
    """What the server will serve of the version dirs `on_disk` (every complete one once
    exports are done, declared in the spec or not), and whether model.config must pin it.

    TF Serving applies the policy to every version dir it finds. When a model declares
    its versions and the policy would pick one the spec does not declare (a rollout's
    spec reverted: version 2 left on disk under `latest 1`), what the spec asks for is
    its declared versions under its policy, so model.config pins exactly those.
    """
    chosen = model.policy.select(on_disk)
    declared = set(model.versions)
    if not declared or chosen <= declared:
        return chosen, False
    return model.policy.select(on_disk & declared), True


def would_serve(model: ModelSpec, on_disk: set[int]) -> set[int]:
    """The versions the server will load once exports are done (policy over disk + spec)."""
    return served_versions(model, on_disk | set(model.versions))[0]


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


def served_after(server: Server, live: LiveServer, versions: list[VersionChange]
            ) -> tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]], list[Hazard]]:
    """Per model, the versions served once applied, the ones model.config pins, and a
    warning for each pin (which undeclared version dirs the policy would have picked)."""
    serve: dict[str, tuple[int, ...]] = {}
    pins: dict[str, tuple[int, ...]] = {}
    hazards = []
    for model in server.models:
        model_dir = live.model_dir(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        on_disk |= {v.version for v in versions if v.model == model.name and v.change is Change.CREATE}
        on_disk -= {v.version for v in versions if v.model == model.name and v.change is Change.DELETE}
        chosen, pinned = served_versions(model, on_disk)
        serve[model.name] = tuple(sorted(chosen))
        if pinned:
            pins[model.name] = serve[model.name]
            extra = sorted(model.policy.select(on_disk) - set(model.versions))
            hazards.append(Hazard(
                HazardKind.VERSION_PINNED, Severity.WARNING,
                f"version(s) {extra} on disk at {server.base_path(model)} are not in the spec, and "
                f"the policy would serve them: model.config pins the served versions to "
                f"{list(chosen)}; declare them, or delete their dirs (`prune: true`)",
                model=model.name))
        for smoke in model.smoke:
            if smoke.version is not None and smoke.version not in chosen:
                hazards.append(Hazard(
                    HazardKind.NOTHING_SERVED, Severity.ERROR,
                    f"a smoke test asks version {smoke.version}, which will not be served "
                    f"(served: {sorted(chosen)}); ask a served version or a label",
                    model=model.name, version=smoke.version))
    return serve, pins, hazards


def pin_entries(entries: tuple[ModelEntry, ...], pins: Mapping[str, tuple[int, ...]]
         ) -> tuple[ModelEntry, ...]:
    return tuple(dataclasses.replace(e, policy=VersionPolicy(PolicyKind.SPECIFIC, latest=0,
                                                               specific=pins[e.name]))
                 if e.name in pins else e for e in entries)
