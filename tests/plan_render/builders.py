"""Small builders of Plan objects, and the named scenarios every renderer test uses.

Each scenario is one kind of plan a reviewer meets; the golden files under
golden/ are named after them, and the JSON round trip runs over all of them.
"""

from __future__ import annotations

import dataclasses

from tfsctl.plan.model import (
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
from tfsctl.rollout.plan import CanaryPlan, Thresholds
from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy
from tfsctl.spec.model_spec import PolicyKind

ROOT = "/srv/models"
DOWNTIME = ("replace: the server stops answering until it has started and loaded its models "
            "(typically a few seconds plus model load time); a reload would not")


def entry(name: str, *, policy: VersionPolicy | None = None,
          labels: tuple[tuple[str, int], ...] = (), platform: str = "tensorflow") -> ModelEntry:
    return ModelEntry(name=name, base_path=f"/models/{name}", platform=platform,
                      policy=policy or VersionPolicy(), labels=labels)


def export(model: str, version: int, kind: str = "saved_model", path: str = "") -> VersionChange:
    return VersionChange(model, version, Change.CREATE, "missing on disk",
                         source=SourceRef(kind, path or f"./exports/{model}/{version}"),
                         target=f"{ROOT}/{model}/{version}")


def prune(model: str, version: int) -> VersionChange:
    return VersionChange(model, version, Change.DELETE,
                         "not declared in the spec, and the model has `prune: true`",
                         target=f"{ROOT}/{model}/{version}")


def hazard(kind: HazardKind, message: str, severity: Severity = Severity.ERROR,
           model: str | None = None, version: int | None = None) -> Hazard:
    return Hazard(kind, severity, message, model=model, version=version)


def server(action: ServerAction = ServerAction.NONE, name: str = "default",
           **fields: object) -> ServerPlan:
    defaults: dict[str, object] = {"runtime": "docker", "runtime_config_hash": "r" * 16,
                                   "desired_entries": (entry("half_plus_two"),)}
    return ServerPlan(name=name, action=action, **{**defaults, **fields})  # type: ignore[arg-type]


def plan(*servers: ServerPlan, **fields: object) -> Plan:
    defaults: dict[str, object] = {"spec_file": "tfsctl.yaml", "spec_digest": "d" * 64,
                                   "environment": "prod", "live_fingerprint": "f" * 16}
    return Plan(servers=servers, **{**defaults, **fields})  # type: ignore[arg-type]


def reload_server() -> ServerPlan:
    """Every model-level change at once: exports of each source kind, prune, entries, labels."""
    specific = VersionPolicy(PolicyKind.SPECIFIC, latest=0, specific=(2, 3))
    return server(
        ServerAction.RELOAD,
        reasons=("model config only: hot reload, no downtime",),
        versions=(export("half_plus_two", 3, "checkpoint", "./ckpt/model.ckpt-1000"),
                  export("resnet", 1, "saved_model", "./exports/resnet"),
                  export("classifier", 7, "keras", "./keras/classifier.keras"),
                  prune("half_plus_two", 1)),
        models=(ModelChange("resnet", Change.CREATE),
                ModelChange("half_plus_two", Change.UPDATE, (
                    FieldChange("policy", "latest 1", str(specific)),
                    FieldChange("labels.canary", None, "3"),
                    FieldChange("labels.old", "1", None))),
                ModelChange("retired", Change.DELETE)),
        label_steps=(LabelStep("half_plus_two", "canary", 3),),
        desired_entries=(entry("half_plus_two", policy=specific, labels=(("canary", 3),)),
                         entry("resnet", labels=(("stable", 1),)), entry("classifier")),
    )


def replace_server() -> ServerPlan:
    return server(ServerAction.REPLACE,
                  reasons=("image tensorflow/serving:2.18.0 -> tensorflow/serving:2.19.1",),
                  files=(FileChange("batching.config", Change.UPDATE),),
                  hazards=(hazard(HazardKind.DOWNTIME, DOWNTIME, Severity.WARNING),))


def canary_server() -> ServerPlan:
    """A new version reaching the traffic by a canary of two steps."""
    return server(ServerAction.REPLACE, rolling=True,
                  reasons=("canary: the new model config runs in a new container beside the "
                           "serving one (a hot reload would change what every request gets at "
                           "once)",),
                  versions=(export("half_plus_two", 2),),
                  canary=CanaryPlan(((20, 30.0), (50, 30.0)), Thresholds(
                      interval=10.0, max_error_rate=0.01, min_requests=50, failure_limit=0,
                      max_p99_latency_ms=500.0)))


SCENARIOS: dict[str, Plan] = {
    "canary": plan(canary_server()),
    "no_changes": plan(server()),
    "reload": plan(reload_server()),
    "replace": plan(replace_server()),
    "prune_only": plan(server(versions=(prune("half_plus_two", 1),))),
    "create": plan(server(ServerAction.CREATE, reasons=("no container is running for this server",),
                          versions=(export("half_plus_two", 1),),
                          models=(ModelChange("half_plus_two", Change.CREATE),),
                          files=(FileChange("batching.config", Change.CREATE),),
                          label_steps=(LabelStep("half_plus_two", "stable", 1),))),
    "destroy": plan(server(ServerAction.DESTROY,
                           reasons=("the container is removed (model versions are kept)",),
                           versions=(VersionChange("half_plus_two", 1, Change.DELETE,
                                                   "destroy --purge",
                                                   target=f"{ROOT}/half_plus_two/1"),),
                           models=(ModelChange("half_plus_two", Change.DELETE),),
                           desired_entries=()), destroy=True),
    "errors": plan(server(
        ServerAction.RELOAD, reasons=("model config only: hot reload, no downtime",),
        versions=(export("half_plus_two", 3, "checkpoint", "./ckpt/missing"),),
        models=(ModelChange("half_plus_two", Change.UPDATE,
                            (FieldChange("labels.stable", "2", "3"),)),),
        hazards=(hazard(HazardKind.SOURCE_MISSING, "cannot export version 3: ./ckpt/missing does "
                        "not exist", model="half_plus_two", version=3),
                 hazard(HazardKind.INTERRUPTED_EXPORT, f"{ROOT}/half_plus_two/.tmp-4 is left from "
                        "an interrupted export; apply removes it", Severity.WARNING,
                        model="half_plus_two"),
                 hazard(HazardKind.SECRET_MISSING, "secret_env needs $TOKEN in tfsctl's "
                        "environment; it is not set")))),
    "drift": plan(server(drift=(
        Drift(DriftKind.CONFIG_EDITED, f"{ROOT}/model.config was changed since the last apply "
              "(#4, 2024-05-01T10:00:00+00:00); apply overwrites it"),
        Drift(DriftKind.VERSION_NOT_SERVED, "half_plus_two version 2 is on disk but the server "
              "reports it LOADING")))),
    "two_servers": plan(reload_server(), dataclasses.replace(replace_server(), name="gpu"),
                        notes=("planned 2 of 3 servers",)),
    "snapshot_policy": plan(
        replace_server(),
        baseline=Baseline(BaselineKind.SNAPSHOT, "live.json", "2026-12-01T09:30:00+00:00", 2700),
        policy=(PolicyFinding(PolicyLevel.DENY, "deny_replace_with_downtime_in_prod",
                              "server default would be replaced, with downtime, in prod"),
                PolicyFinding(PolicyLevel.WARN, "warn", "model half_plus_two has no smoke "
                              "requests"))),
    "against_spec": plan(reload_server(), baseline=Baseline(BaselineKind.SPEC, "base.yaml")),
    "markdown_hostile": plan(server(
        ServerAction.RELOAD, name="a|b", reasons=("model config only: hot reload, no downtime",),
        versions=(export("pipe|model", 1, "saved_model", "./x|y/`z`"),),
        models=(ModelChange("pipe|model", Change.CREATE), ModelChange("*bold*", Change.UPDATE, (
            FieldChange("labels.<b>x</b>", "1", "2"),))),
        desired_entries=(entry("pipe|model"), entry("*bold*")))),
}
