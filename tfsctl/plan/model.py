"""A plan's review half: what apply would change on each server, and why. Plain frozen data.

The planner (`tfsctl.plan.diff`) builds it with no I/O; the renderers (text,
JSON, Markdown) and policies read it. Actions are enums, never bare strings,
and every change carries its reason so a reviewer can check it.

The execution half (`tfsctl.plan.execution`: per server, the ordered steps apply
runs) travels in the same `Plan` but apart from this half, SQLMesh's Plan and
EvaluatablePlan: reviewing never needs the steps, and apply never re-derives them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tfsctl.plan.execution import ServerExecution
from tfsctl.plan.gateways import GatewayAction, GatewayPlan
from tfsctl.rollout.plan import CanaryPlan
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model_spec import SmokeTest
from tfsctl.spec.sources import Source

#: Bumped when the JSON form of a plan changes incompatibly (see docs/plan-json.md).
PLAN_FORMAT_VERSION = 5


class Change(StrEnum):
    """How one thing changes; `symbol` is what the text and Markdown plans print."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "no-op": " "}[self]


class ServerAction(StrEnum):
    """What happens to the running server, from least to most disruptive."""

    NONE = "none"
    RELOAD = "reload"  # model config only: HandleReloadConfigRequest, no downtime
    START = "start"  # exists but stopped: start it as it is
    RESTART = "restart"  # side files changed (batching, monitoring): same container, restarted
    CREATE = "create"  # nothing runs yet
    REPLACE = "replace"  # container-level change (image, ports, flags, env, mounts, resources)
    DESTROY = "destroy"

    @property
    def downtime(self) -> bool:
        return self in (ServerAction.START, ServerAction.RESTART, ServerAction.REPLACE,
                        ServerAction.DESTROY)

    @property
    def starts_server(self) -> bool:
        """A server process or container starts afresh (and reads its model.config)."""
        return self in (ServerAction.START, ServerAction.RESTART, ServerAction.CREATE,
                        ServerAction.REPLACE)


class Severity(StrEnum):
    WARNING = "warning"  # apply proceeds; the reviewer should know
    ERROR = "error"  # apply refuses until the spec or the disk is fixed


class HazardKind(StrEnum):
    SOURCE_MISSING = "source-missing"
    VERSION_MISSING = "version-missing"
    VERSION_INCOMPLETE = "version-incomplete"
    SOURCE_CHANGED = "source-changed"
    DOWNTIME = "downtime"
    ENGINE_UNREACHABLE = "engine-unreachable"
    PATH_ESCAPE = "path-escape"
    UNREADABLE_CONFIG = "unreadable-config"
    INTERRUPTED_EXPORT = "interrupted-export"
    SECRET_MISSING = "secret-missing"
    NOTHING_SERVED = "nothing-served"
    INTERRUPTED_APPLY = "interrupted-apply"
    MEMORY_LIMIT = "memory-limit"
    VERSION_PINNED = "version-pinned"  # an undeclared version dir would be served: pinned out


@dataclass(frozen=True)
class Hazard:
    kind: HazardKind
    severity: Severity
    message: str
    model: str | None = None
    version: int | None = None


class DriftKind(StrEnum):
    CONFIG_EDITED = "config-edited"  # model.config differs from what tfsctl last wrote
    RUNTIME_GONE = "runtime-gone"  # the container/process was removed
    RUNTIME_STOPPED = "runtime-stopped"
    RUNTIME_CHANGED = "runtime-changed"  # container recreated by hand (hash differs)
    VERSION_NOT_SERVED = "version-not-served"  # server reports a desired version not AVAILABLE
    MEMBER = "member"  # one copy of a replicated server is on an old config or keeps restarting


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    message: str


@dataclass(frozen=True)
class FieldChange:
    """One field of a model.config entry (policy, labels, base_path, platform)."""

    field: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class SourceRef:
    kind: str  # saved_model | checkpoint | keras
    path: str


@dataclass(frozen=True)
class VersionChange:
    """A version directory to export (CREATE) or prune (DELETE)."""

    model: str
    version: int
    change: Change
    reason: str
    source: SourceRef | None = None
    target: str = ""  # host path of the version dir
    #: the whole source, as the exporter needs it (CREATE only)
    source_spec: Source | None = None
    #: predict bodies written as the export's warmup file (CREATE only; the model's `warmup`)
    warmup: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ModelChange:
    """A model.config entry added, changed field by field, or removed."""

    name: str
    change: Change
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class FileChange:
    """A side file (batching.config, monitoring.config) created, changed or removed."""

    name: str
    change: Change
    path: str = ""  # on the host
    content: str | None = None  # what is written (None: removed)


@dataclass(frozen=True)
class LabelStep:
    """A label that must wait until its version is AVAILABLE (load first, then label)."""

    model: str
    label: str
    version: int


@dataclass(frozen=True)
class ServerPlan:
    name: str
    runtime: str
    action: ServerAction
    reasons: tuple[str, ...] = ()
    versions: tuple[VersionChange, ...] = ()
    models: tuple[ModelChange, ...] = ()
    files: tuple[FileChange, ...] = ()
    label_steps: tuple[LabelStep, ...] = ()
    hazards: tuple[Hazard, ...] = ()
    drift: tuple[Drift, ...] = ()
    desired_entries: tuple[ModelEntry, ...] = ()
    runtime_config_hash: str = ""  # the hash the runtime will be stamped with
    #: model -> the versions it serves once applied
    serve: tuple[tuple[str, tuple[int, ...]], ...] = ()
    smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...] = ()  # model -> its smoke requests
    #: the runtime replaces and restarts by a rolling update, without downtime
    rolling: bool = False
    #: the change reaches the traffic by these canary steps (None: all at once)
    canary: CanaryPlan | None = None

    @property
    def downtime(self) -> bool:
        """Whether requests fail while the action runs (never during a rolling update)."""
        rolled = self.rolling and self.action in (ServerAction.REPLACE, ServerAction.RESTART)
        return self.action.downtime and self.action is not ServerAction.DESTROY and not rolled

    @property
    def exports(self) -> tuple[VersionChange, ...]:
        return tuple(v for v in self.versions if v.change is Change.CREATE)

    @property
    def prunes(self) -> tuple[VersionChange, ...]:
        return tuple(v for v in self.versions if v.change is Change.DELETE)

    @property
    def errors(self) -> tuple[Hazard, ...]:
        return tuple(h for h in self.hazards if h.severity is Severity.ERROR)

    @property
    def has_changes(self) -> bool:
        return bool(self.action is not ServerAction.NONE or self.versions or self.models
                    or self.files)


@dataclass(frozen=True)
class PlanCounts:
    add: int = 0
    change: int = 0
    destroy: int = 0


class BaselineKind(StrEnum):
    """What a plan's "before" side is."""

    LIVE = "live"  # observed just now: the engine, the server and the disk
    SNAPSHOT = "snapshot"  # a live state observed earlier (`tfsctl status --snapshot`)
    SPEC = "spec"  # another spec, as if it were applied and converged (`plan --against`)


@dataclass(frozen=True)
class Baseline:
    """What the plan was compared against, so a reviewer knows how far to trust it."""

    kind: BaselineKind = BaselineKind.LIVE
    source: str = ""  # the snapshot file or the other spec, as given
    taken_at: str | None = None  # snapshot: when the live state was observed (ISO 8601, UTC)
    age_seconds: int | None = None  # snapshot: how old it was when the plan was made


class PolicyLevel(StrEnum):
    DENY = "deny"  # the plan fails (exit 1)
    WARN = "warn"  # printed; the plan passes


@dataclass(frozen=True)
class PolicyFinding:
    """One message of a policy rule (`deny`/`warn` in Rego, conftest's convention)."""

    level: PolicyLevel
    rule: str  # the rule's name, e.g. deny_destroy_in_prod
    message: str


@dataclass(frozen=True)
class Plan:
    """Every server's plan, plus what it was computed from (for saved plans)."""

    servers: tuple[ServerPlan, ...]
    spec_file: str = ""
    spec_digest: str = ""
    #: the directory the plan's paths are under (`tfsctl.anchor`): a plan file writes
    #: them relative to it
    anchor: str = ""
    environment: str | None = None
    live_fingerprint: str = ""
    format_version: int = PLAN_FORMAT_VERSION
    destroy: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)
    baseline: Baseline = field(default_factory=Baseline)
    policy: tuple[PolicyFinding, ...] = ()  # filled by `plan --policy`, after the diff
    gateways: tuple[GatewayPlan, ...] = ()  # see plan/gateways.py
    #: the execution half: per server with changes, the steps apply runs
    execution: tuple[ServerExecution, ...] = ()

    @property
    def has_changes(self) -> bool:
        return any(s.has_changes for s in self.servers) or any(g.has_changes for g in self.gateways)

    @property
    def denials(self) -> tuple[PolicyFinding, ...]:
        return tuple(f for f in self.policy if f.level is PolicyLevel.DENY)

    @property
    def errors(self) -> tuple[Hazard, ...]:
        return tuple(h for s in self.servers for h in s.errors)

    def counts(self) -> PlanCounts:
        """Terraform-style summary: things to add, change, destroy."""
        add = change = destroy = 0
        for server in self.servers:
            changes = [i.change for i in server.versions] + [i.change for i in server.models] + [
                i.change for i in server.files]
            for item_change in changes:
                if item_change is Change.CREATE:
                    add += 1
                elif item_change is Change.DELETE:
                    destroy += 1
                elif item_change in (Change.UPDATE, Change.REPLACE):
                    change += 1
            if server.action is ServerAction.CREATE:
                add += 1
            elif server.action is ServerAction.DESTROY:
                destroy += 1
            elif server.action in (ServerAction.REPLACE, ServerAction.RESTART,
                                   ServerAction.START):
                change += 1  # a reload is how model changes apply, not a change of its own
        actions = [g.action for g in self.gateways]
        return PlanCounts(add + actions.count(GatewayAction.CREATE),
                          change + actions.count(GatewayAction.UPDATE),
                          destroy + actions.count(GatewayAction.DESTROY))

    def server(self, name: str) -> ServerPlan | None:
        return next((s for s in self.servers if s.name == name), None)

    def steps_of(self, name: str) -> ServerExecution | None:
        return next((e for e in self.execution if e.server == name), None)
