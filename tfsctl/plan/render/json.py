"""The plan as versioned JSON (docs/plan-json.md), and back.

`plan_to_dict` writes every field of the plan with enums as their string
values, keys in a fixed order so diffs of two plans are readable. Derived
fields (`has_changes`, `summary`, `errors`, `downtime`) are there for
consumers that do not want to recompute them; `plan_from_dict` ignores them
and rebuilds the exact `Plan`, so a saved plan loads back unchanged.

Compatibility: adding a field keeps `format_version`; renaming, removing or
changing the meaning of one bumps `PLAN_FORMAT_VERSION`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter

from tfsctl import __version__
from tfsctl.errors import TfsctlError
from tfsctl.plan.model import (
    PLAN_FORMAT_VERSION,
    Baseline,
    BaselineKind,
    Change,
    Drift,
    DriftKind,
    FieldChange,
    FileChange,
    Hazard,
    HazardKind,
    LabelStep,
    ModelChange,
    Plan,
    PolicyFinding,
    PolicyLevel,
    ServerAction,
    ServerPlan,
    Severity,
    SourceRef,
    VersionChange,
)
from tfsctl.plan.render.execution import execution_from_dict, execution_to_dict
from tfsctl.plan.render.gateways import gateway_from_dict, gateway_to_dict
from tfsctl.rollout.plan import CanaryPlan, Thresholds
from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy
from tfsctl.spec.model_spec import PolicyKind, SmokeTest
from tfsctl.spec.sources import Source

JsonDict = dict[str, Any]
T = TypeVar("T")


_SOURCE: TypeAdapter[Source] = TypeAdapter(Source)


def _source_spec(source: Source | None) -> JsonDict | None:
    return None if source is None else source.model_dump(mode="json", by_alias=True)


def _hazard(hazard: Hazard) -> JsonDict:
    return {"kind": hazard.kind.value, "severity": hazard.severity.value, "model": hazard.model,
            "version": hazard.version, "message": hazard.message}


def _version(version: VersionChange) -> JsonDict:
    source = version.source
    return {"model": version.model, "version": version.version, "change": version.change.value,
            "reason": version.reason,
            "source": None if source is None else {"kind": source.kind, "path": source.path},
            "target": version.target, "source_spec": _source_spec(version.source_spec),
            "warmup": list(version.warmup)}


def _entry(entry: ModelEntry) -> JsonDict:
    return {"name": entry.name, "base_path": entry.base_path, "platform": entry.platform,
            "policy": {"kind": entry.policy.kind.value, "latest": entry.policy.latest,
                       "specific": list(entry.policy.specific)},
            "labels": dict(entry.labels)}


def _canary(canary: CanaryPlan | None) -> JsonDict | None:
    if canary is None:
        return None
    return {"summary": canary.describe(),
            "steps": [{"weight": weight, "pause": pause} for weight, pause in canary.steps],
            "analysis": dataclasses.asdict(canary.thresholds)}


def _canary_from(data: Mapping[str, Any] | None) -> CanaryPlan | None:
    if data is None:
        return None
    return CanaryPlan(tuple((int(s["weight"]), float(s["pause"])) for s in data["steps"]),
                      Thresholds(**data["analysis"]))


def _server(server: ServerPlan) -> JsonDict:
    return {
        "name": server.name,
        "runtime": server.runtime,
        "action": server.action.value,
        "reasons": list(server.reasons),
        "downtime": server.downtime,
        "rolling": server.rolling,
        "canary": _canary(server.canary),
        "has_changes": server.has_changes,
        "runtime_config_hash": server.runtime_config_hash,
        "versions": [_version(v) for v in server.versions],
        "models": [{"name": m.name, "change": m.change.value,
                    "fields": [{"field": f.field, "before": f.before, "after": f.after}
                               for f in m.fields]} for m in server.models],
        "files": [{"name": f.name, "change": f.change.value, "path": f.path, "content": f.content}
                  for f in server.files],
        "label_steps": [{"model": s.model, "label": s.label, "version": s.version}
                        for s in server.label_steps],
        "hazards": [_hazard(h) for h in server.hazards],
        "drift": [{"kind": d.kind.value, "message": d.message} for d in server.drift],
        "desired_model_config": [_entry(e) for e in server.desired_entries],
        "serve": {model: list(versions) for model, versions in server.serve},
        "smoke": {model: [t.model_dump(mode="json") for t in tests] for model, tests in server.smoke},
    }


def plan_to_dict(plan: Plan) -> JsonDict:
    """The plan in format `PLAN_FORMAT_VERSION`; see docs/plan-json.md for every field."""
    counts = plan.counts()
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "tfsctl_version": __version__,
        "spec": {"file": plan.spec_file, "digest": plan.spec_digest,
                 "environment": plan.environment, "anchor": plan.anchor},
        "live_fingerprint": plan.live_fingerprint,
        "compared_against": {"kind": plan.baseline.kind.value, "source": plan.baseline.source,
                             "taken_at": plan.baseline.taken_at,
                             "age_seconds": plan.baseline.age_seconds},
        "destroy": plan.destroy,
        "has_changes": plan.has_changes,
        "summary": {"add": counts.add, "change": counts.change, "destroy": counts.destroy},
        "errors": [{"server": s.name, **_hazard(h)} for s in plan.servers for h in s.errors],
        "notes": list(plan.notes),
        "policy": [{"level": f.level.value, "rule": f.rule, "message": f.message}
                   for f in plan.policy],
        "servers": [_server(s) for s in plan.servers],
        **({"gateways": [gateway_to_dict(g) for g in plan.gateways]} if plan.gateways else {}),
        "execution": [execution_to_dict(e, _entry) for e in plan.execution],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False)


def _each(data: Mapping[str, Any], key: str, build: Callable[[Mapping[str, Any]], T]
          ) -> tuple[T, ...]:
    return tuple(build(item) for item in data[key])


def _source(data: Mapping[str, Any] | None) -> SourceRef | None:
    return None if data is None else SourceRef(kind=data["kind"], path=data["path"])


def _hazard_from(data: Mapping[str, Any]) -> Hazard:
    return Hazard(kind=HazardKind(data["kind"]), severity=Severity(data["severity"]),
                  message=data["message"], model=data["model"], version=data["version"])


def _entry_from(data: Mapping[str, Any]) -> ModelEntry:
    policy = data["policy"]
    return ModelEntry(name=data["name"], base_path=data["base_path"], platform=data["platform"],
                      policy=VersionPolicy(PolicyKind(policy["kind"]), latest=policy["latest"],
                                           specific=tuple(policy["specific"])),
                      labels=tuple(data["labels"].items()))


def _server_from(data: Mapping[str, Any]) -> ServerPlan:
    return ServerPlan(
        name=data["name"],
        runtime=data["runtime"],
        action=ServerAction(data["action"]),
        reasons=tuple(data["reasons"]),
        versions=_each(data, "versions", lambda v: VersionChange(
            model=v["model"], version=v["version"], change=Change(v["change"]), reason=v["reason"],
            source=_source(v["source"]), target=v["target"],
            source_spec=None if v["source_spec"] is None else _SOURCE.validate_python(
                dict(v["source_spec"])),
            warmup=tuple(v["warmup"]))),
        models=_each(data, "models", lambda m: ModelChange(
            name=m["name"], change=Change(m["change"]),
            fields=_each(m, "fields", lambda f: FieldChange(f["field"], f["before"], f["after"])))),
        files=_each(data, "files", lambda f: FileChange(f["name"], Change(f["change"]), f["path"],
                                                        f["content"])),
        label_steps=_each(data, "label_steps",
                          lambda s: LabelStep(s["model"], s["label"], s["version"])),
        hazards=_each(data, "hazards", _hazard_from),
        drift=_each(data, "drift", lambda d: Drift(DriftKind(d["kind"]), d["message"])),
        desired_entries=_each(data, "desired_model_config", _entry_from),
        runtime_config_hash=data["runtime_config_hash"],
        serve=tuple((model, tuple(versions)) for model, versions in data["serve"].items()),
        smoke=tuple((model, tuple(SmokeTest.model_validate(t) for t in tests))
                    for model, tests in data["smoke"].items()),
        rolling=bool(data["rolling"]),
        canary=_canary_from(data["canary"]),
    )


def _baseline_from(data: Mapping[str, Any] | None) -> Baseline:
    if data is None:
        return Baseline()
    return Baseline(BaselineKind(data["kind"]), data["source"], data["taken_at"],
                    data["age_seconds"])


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """The `Plan` that `plan_to_dict` wrote; TfsctlError for another format or bad data."""
    version = data.get("format_version") if isinstance(data, Mapping) else None
    if version != PLAN_FORMAT_VERSION:
        raise TfsctlError(
            f"plan format version {version!r} is not supported (this tfsctl {__version__} "
            f"reads version {PLAN_FORMAT_VERSION})",
            "make the plan again with this tfsctl: `tfsctl plan --out PLANFILE`")
    try:
        spec = data["spec"]
        return Plan(servers=_each(data, "servers", _server_from), spec_file=spec["file"],
                    spec_digest=spec["digest"], environment=spec["environment"],
                    anchor=spec["anchor"],
                    live_fingerprint=data["live_fingerprint"], format_version=version,
                    destroy=data["destroy"], notes=tuple(data["notes"]),
                    baseline=_baseline_from(data.get("compared_against")),
                    policy=_each(data, "policy", lambda f: PolicyFinding(
                        PolicyLevel(f["level"]), f["rule"], f["message"])),
                    gateways=_each(data, "gateways", gateway_from_dict) if "gateways" in data
                    else (),
                    execution=tuple(execution_from_dict(e, _entry_from)
                                    for e in data["execution"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # pydantic's too
        raise TfsctlError(f"the plan data is malformed ({type(exc).__name__}: {exc})",
                          "make the plan again: `tfsctl plan --out PLANFILE`") from None
