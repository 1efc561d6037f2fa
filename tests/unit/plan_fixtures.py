"""Build live states from the compact fixture language of tests/unit/plan_cases/*.yaml.

A case file holds `spec:` (a spec, as YAML text), `live:` (what observers
would have seen, per server) and `expect:` (the plan, per server, as the short
lines `plan_lines` produces). The planner is pure, so nothing here touches
the disk: model roots are made-up absolute paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfsctl.live.sources import SourceObservation
from tfsctl.live.state import (
    ConfigFile,
    ExportRecord,
    LastApplied,
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
from tfsctl.plan.model import ServerPlan
from tfsctl.runtimes.desired import desired_model_entries, desired_runtime
from tfsctl.serverconfig.launch import side_files
from tfsctl.serverconfig.model_config import parse_text, render_text
from tfsctl.spec.model import Server, Spec

DESIRED = "<desired>"  # in a fixture: "the value the spec produces"


def _model_dir(server: Server, name: str, data: dict[str, Any]) -> ModelDir:
    model = server.model(name)
    base = server.base_path(model) if model else server.model_root / name
    incomplete = {int(k): v for k, v in (data.get("incomplete") or {}).items()}
    sizes = {int(k): v for k, v in (data.get("sizes") or {}).items()}
    versions = [VersionDir(v, str(v), True, fingerprint=f"fp{v}", size_bytes=sizes.get(v))
                for v in data.get("versions", [])]
    versions += [VersionDir(v, str(v), False, problem=why) for v, why in incomplete.items()]
    exports = tuple(ExportRecord(int(v), "saved_model", "/src", fp)
                    for v, fp in (data.get("exported") or {}).items())
    return ModelDir(base, True, tuple(sorted(versions, key=lambda v: v.version)),
                    temporary=tuple(data.get("temporary", [])), exports=exports,
                    escapes_root=data.get("escapes_root"))


def _model_config(server: Server, value: Any) -> ConfigFile:
    path = server.model_root / "model.config"
    if value is None:
        return ConfigFile(path, False)
    text = render_text(desired_model_entries(server)) if value == DESIRED else value
    try:
        return ConfigFile(path, True, text, parse_text(text))
    except ValueError as exc:
        return ConfigFile(path, True, text, None, str(exc))


def _report(data: dict[str, Any] | None) -> ServerReport:
    if data is None:
        return ServerReport(False, error="connection refused")
    models = tuple(
        ServedModel(name, tuple(ServedVersion(int(v), VersionState(state))
                                for v, state in versions.items()))
        for name, versions in data.items())
    return ServerReport(True, "127.0.0.1:8501", models)


def live_server(server: Server, data: dict[str, Any], secrets: dict[str, str]) -> LiveServer:
    runtime = data.get("runtime", {"status": "missing"})
    config_hash = runtime.get("config_hash")
    desired = desired_runtime(server)
    if config_hash == DESIRED:
        config_hash = desired.config_hash(secrets)
    # the settings stamped on the runtime: the desired ones, with the fixture's differences
    settings = {**desired.stamped_settings(), **(runtime.get("settings") or {})}
    wanted_files = {f.name: f.content for f in side_files(server)}
    files = []
    for name, text in (data.get("side_files") or {}).items():
        text = wanted_files.get(name) if text == DESIRED else text
        files.append((name, ConfigFile(server.model_root / name, text is not None, text)))
    last = data.get("last_applied")
    model_config = _model_config(server, data.get("model_config"))
    return LiveServer(
        name=server.name,
        model_dirs=tuple((name, _model_dir(server, name, d or {}))
                         for name, d in (data.get("model_dirs") or {}).items()),
        model_config=model_config,
        side_files=tuple(files),
        runtime=RuntimeState(RuntimeStatus(runtime["status"]), config_hash,
                             settings=tuple(sorted(settings.items())),
                             image_id=runtime.get("image_id"),
                             wanted_image_id=runtime.get("wanted_image_id")),
        report=_report(data.get("report")),
        interrupted_apply=data.get("interrupted_apply"),
        last_applied=None if last is None else LastApplied(
            1, "2026-01-01T00:00:00Z", "digest",
            model_config.text if last.get("model_config") == DESIRED else last.get("model_config"),
            last.get("runtime_config_hash"), last.get("start_gap_seconds"),
            "2026-01-01T00:00:00Z" if last.get("start_gap_seconds") is not None else None),
    )


def live_state(spec: Spec, live: dict[str, Any], secrets: dict[str, str]) -> LiveState:
    return LiveState(tuple(live_server(s, live.get(s.name) or {}, secrets) for s in spec.servers))


def sources(case: dict[str, Any]) -> dict[tuple[str, str, int], SourceObservation]:
    out = {}
    for key, value in (case.get("sources") or {}).items():
        server, model, version = key.split("/")
        out[(server, model, int(version))] = SourceObservation(
            value.get("exists", True), value.get("problem"), value.get("fingerprint"),
            value.get("size_bytes"))
    return out


def plan_lines(plan: ServerPlan) -> dict[str, Any]:
    """The plan as short, reviewable lines (what a case's `expect:` lists)."""
    return {
        "action": plan.action.value,
        "versions": [f"{v.change.symbol} {v.model}/{v.version}" for v in plan.versions],
        "models": [f"{m.change.symbol} {m.name}" + "".join(
            f" {f.field}: {f.before} -> {f.after}" for f in m.fields) for m in plan.models],
        "files": [f"{f.change.symbol} {f.name}" for f in plan.files],
        "label_steps": [f"{s.model}.{s.label} -> {s.version}" for s in plan.label_steps],
        "hazards": sorted(f"{h.severity.value} {h.kind.value}" for h in plan.hazards),
        "drift": sorted(d.kind.value for d in plan.drift),
    }


def case_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml"))
