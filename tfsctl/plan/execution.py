"""The execution half of a plan: per server, the ordered steps apply runs. Plain frozen data.

SQLMesh keeps the reviewed Plan apart from the EvaluatablePlan that runs; this is
tfsctl's EvaluatablePlan. The review half (`plan.model.ServerPlan`: what changes and
why) is what renderers and policies read; this half is what `tfsctl apply` executes,
step by step, re-deriving nothing from the spec. Every step is a small frozen
dataclass that `tfsctl.apply.steps` maps to exactly one executor, so a saved plan
applies as it was reviewed wherever it is applied: the plan file writes the paths
below relative to its anchor (see `tfsctl.planfile`).

Steps run in order inside one transaction (each change journalled before it is
made, all of it undone on failure); `after_commit` steps (pruning version dirs)
run only once the transaction is verified and committed, because a deleted
version cannot be put back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from tfsctl.rollout.plan import Thresholds
from tfsctl.runtimes.base import RuntimeTarget, Step
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model_spec import SmokeTest
from tfsctl.spec.sources import Source

#: model -> versions, as a hashable tuple (frozen data all the way down)
Versions = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class RemoveLeftover:
    """Remove what an interrupted export left beside its target."""

    kind: ClassVar[str] = "remove-leftover"
    path: str


@dataclass(frozen=True)
class ExportVersion:
    """Export one version from its source, atomically; refused when the source's content
    no longer has the digest the plan was made with."""

    kind: ClassVar[str] = "export-version"
    model: str
    version: int
    target: str
    source: Source
    source_digest: str
    warmup: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class WriteSideFile:
    """batching.config or monitoring.config: read by the server only when it starts."""

    kind: ClassVar[str] = "write-side-file"
    name: str
    path: str
    content: str


@dataclass(frozen=True)
class RemoveSideFile:
    """A side file the spec no longer asks for (its flag goes with the restart)."""

    kind: ClassVar[str] = "remove-side-file"
    name: str
    path: str


@dataclass(frozen=True)
class WriteModelConfig:
    """model.config as the server reads it at start (and as the next plan compares)."""

    kind: ClassVar[str] = "write-model-config"
    path: str
    entries: tuple[ModelEntry, ...]


@dataclass(frozen=True)
class ReloadConfig:
    """Hand the running server a model config over gRPC (HandleReloadConfigRequest)."""

    kind: ClassVar[str] = "reload-config"
    entries: tuple[ModelEntry, ...]
    why: str


@dataclass(frozen=True)
class RunServer:
    """Create, replace or restart the server with the plan's desired runtime."""

    kind: ClassVar[str] = "run-server"
    step: Step
    why: str


@dataclass(frozen=True)
class SettleServer:
    """Wait until the runtime has finished starting what `RunServer` began (a swarm rolling
    update converged; nothing to wait for where the runtime step returns once the server
    is started). It follows the exports that overlap the start, since a new swarm task
    passes its health check only once it serves every version its config names."""

    kind: ClassVar[str] = "settle-server"


@dataclass(frozen=True)
class SwitchTraffic:
    """Send the traffic to the server `RunServer` started and apply verified (blue/green:
    a no-op where the runtime's new server takes traffic as soon as it starts)."""

    kind: ClassVar[str] = "switch-traffic"


@dataclass(frozen=True)
class CanaryWeight:
    """Step `number` of `of` of a canary: the verified new server gets `weight`% of the
    requests for `pause` seconds, judged every interval on its own metrics (at
    `metrics_path`) against `thresholds`; a failure beyond their limit aborts the apply,
    which rolls back (all requests to the serving one, the canary removed). `smoke` is what
    a quiet interval sends the canary when `thresholds.on_inconclusive` says so."""

    kind: ClassVar[str] = "canary-weight"
    number: int
    of: int
    weight: int
    pause: float
    thresholds: Thresholds
    metrics_path: str
    smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...] = ()


@dataclass(frozen=True)
class WaitServing:
    """Wait until `serve` is AVAILABLE and every version not in it (but `leaving`) is gone."""

    kind: ClassVar[str] = "wait-serving"
    serve: Versions
    leaving: Versions = ()


@dataclass(frozen=True)
class SmokeTests:
    """The model's smoke requests, through the server's own endpoint."""

    kind: ClassVar[str] = "smoke-tests"
    model: str
    tests: tuple[SmokeTest, ...]


@dataclass(frozen=True)
class PruneVersion:
    """Delete a version dir (after commit: a deleted version cannot be put back)."""

    kind: ClassVar[str] = "prune-version"
    model: str
    version: int
    target: str


@dataclass(frozen=True)
class DestroyServer:
    """Remove the container, service or process (model versions stay)."""

    kind: ClassVar[str] = "destroy-server"


@dataclass(frozen=True)
class RemoveFile:
    """A generated file of a destroyed server (model.config, side files)."""

    kind: ClassVar[str] = "remove-file"
    path: str


ExecStep = (RemoveLeftover | ExportVersion | WriteSideFile | RemoveSideFile | WriteModelConfig
            | ReloadConfig | RunServer | SettleServer | WaitServing | SmokeTests | CanaryWeight
            | SwitchTraffic | PruneVersion | DestroyServer | RemoveFile)

#: every step type by its `kind`, for the plan file's reader
STEP_TYPES: dict[str, type[ExecStep]] = {
    t.kind: t for t in (RemoveLeftover, ExportVersion, WriteSideFile, RemoveSideFile,
                        WriteModelConfig, ReloadConfig, RunServer, SettleServer, WaitServing, SmokeTests,
                        CanaryWeight, SwitchTraffic, PruneVersion, DestroyServer, RemoveFile)}


@dataclass(frozen=True)
class ServerExecution:
    """What apply runs for one server, and what it needs to run it."""

    server: str
    target: RuntimeTarget
    #: how the server should run (no secret values: only where they come from); None for
    #: a destroy, which starts nothing
    desired_runtime: DesiredRuntime | None
    #: a digest of the secret values the plan was made with (`DesiredRuntime.secrets_digest`):
    #: apply refuses other values. The stamp itself is computed where the plan is applied,
    #: from the paths of that checkout, so the next plan there sees the server it expects.
    secrets_digest: str
    steps: tuple[ExecStep, ...] = ()
    after_commit: tuple[ExecStep, ...] = ()
    #: a destroy runs its steps without a transaction: nothing is put back
    destroy: bool = False

    def of(self, kind: type[ExecStep]) -> tuple[Any, ...]:
        return tuple(s for s in self.steps + self.after_commit if isinstance(s, kind))

    @property
    def starts_server(self) -> bool:
        return bool(self.of(RunServer))
