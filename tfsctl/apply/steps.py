"""One executor per step of a plan's execution half (`tfsctl.plan.execution`).

Each executor does exactly what its step says, through the transaction (which
journals the change before making it) and the injected effects; none of them
looks at the spec. A failpoint after each kind of change lets the reliability
tests kill apply there (tfsctl/failpoints.py).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfsctl.apply.canary import run_canary_step
from tfsctl.apply.smoke import run_smoke
from tfsctl.apply.transaction import ApplyContext, Transaction
from tfsctl.apply.wait import Expectation, ServingFailed, wait_until_serving
from tfsctl.atomic import remove_file
from tfsctl.errors import TfsctlError
from tfsctl.failpoints import failpoint
from tfsctl.live.sources import source_kind, source_path
from tfsctl.plan.execution import (
    CanaryWeight,
    DestroyServer,
    ExecStep,
    ExportVersion,
    PruneVersion,
    ReloadConfig,
    RemoveFile,
    RemoveLeftover,
    RemoveSideFile,
    RunServer,
    SettleServer,
    SmokeTests,
    SwitchTraffic,
    WaitServing,
    WriteModelConfig,
    WriteSideFile,
)
from tfsctl.runtimes.base import Launch, Step
from tfsctl.serverconfig.model_config import render_text

_REPLAN = "the plan is stale: make a new one (`tfsctl plan --out PLANFILE`) and review it"


@dataclass
class ApplyReport:
    server: str
    action: str
    exported: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    smoke: list[str] = field(default_factory=list)
    seconds_to_serve: float = 0.0
    #: seconds from stopping (or lacking) a server to the new one serving; None for a reload
    start_gap_seconds: float | None = None
    model_config_text: str = ""


@dataclass
class StepRun:
    """What the executors of one server's steps share."""

    ctx: ApplyContext
    tx: Transaction
    launch: Launch | None
    report: ApplyReport
    started: float | None = None  # when the runtime began (re)starting the server
    canary_failures: int = 0  # failed intervals of this apply's canary so far


def _remove_leftover(step: RemoveLeftover, run: StepRun) -> None:
    run.ctx.progress(f"removing leftover {step.path} of an interrupted export")
    shutil.rmtree(step.path, ignore_errors=True)


def check_source(step: ExportVersion) -> None:
    """The source must still be what the plan was made from (its content, by digest)."""
    if not step.source_digest:
        return
    from tfsctl.live.fingerprint import fingerprint_source

    where = source_path(step.source)
    try:
        found = fingerprint_source(step.source)
    except OSError as exc:
        raise TfsctlError(f"cannot read the source of {step.model}/{step.version} ({where}): "
                          f"{exc}", _REPLAN) from None
    if found != step.source_digest:
        raise TfsctlError(f"the source of {step.model}/{step.version} changed since the plan "
                          f"was made: {where}", _REPLAN)


def _export(step: ExportVersion, run: StepRun) -> None:
    target = Path(step.target)
    run.ctx.progress(f"exporting {step.model}/{step.version} from {source_kind(step.source)}")
    run.tx.export(target)
    run.ctx.export(step, target, run.ctx.progress)
    run.report.exported.append(f"{step.model}/{step.version}")
    failpoint("after-export")


def _write_side_file(step: WriteSideFile, run: StepRun) -> None:
    run.tx.write(Path(step.path), step.content)
    failpoint("after-side-files")


def _remove_side_file(step: RemoveSideFile, run: StepRun) -> None:
    run.ctx.progress(f"removing {step.name} (no longer in the spec)")
    run.tx.remove(Path(step.path))
    failpoint("after-side-files")


def _write_model_config(step: WriteModelConfig, run: StepRun) -> None:
    text = render_text(step.entries)
    run.tx.write(Path(step.path), text)
    run.report.model_config_text = text
    if run.tx.touched_server:
        failpoint("after-config-write")


def _reload(step: ReloadConfig, run: StepRun) -> None:
    first = not run.tx.touched_server
    if not first:
        failpoint("before-labels")
    run.ctx.progress(f"reloading the model config: {step.why}")
    run.tx.reload(step.entries)
    if first:
        failpoint("after-reload")


def _run_server(step: RunServer, run: StepRun) -> None:
    if run.launch is None:
        raise TfsctlError("the plan starts a server but holds no desired runtime", _REPLAN)
    run.ctx.progress(f"{step.step.value}: {step.why}")
    run.tx.runtime(step.step)
    run.started = time.monotonic()
    driver = run.ctx.driver
    {Step.CREATE: driver.create, Step.REPLACE: driver.replace,
     Step.RESTART: driver.restart}[step.step](run.launch)
    failpoint("after-runtime")


def _settle(step: SettleServer, run: StepRun) -> None:
    assert run.launch is not None, "a settle follows the RunServer step that had a launch"
    run.ctx.driver.settle(run.launch)


def _wait(step: WaitServing, run: StepRun) -> None:
    expect = Expectation({m: frozenset(v) for m, v in step.serve},
                         {m: frozenset(v) for m, v in step.leaving})
    run.report.seconds_to_serve += wait_until_serving(
        expect, run.ctx.probe, timeout=run.ctx.timeout, progress=run.ctx.progress,
        alive=run.ctx.driver.check_started)
    if run.started is not None and run.report.start_gap_seconds is None:
        run.report.start_gap_seconds = round(time.monotonic() - run.started, 2)


def _smoke(step: SmokeTests, run: StepRun) -> None:
    failures = []
    for result in run_smoke(step.model, step.tests, run.ctx.predict):
        run.report.smoke.append(f"{'ok' if result.ok else 'FAILED'} {step.model}: {result.name}")
        if not result.ok:
            failures.append(f"smoke test {result.name!r} of {step.model}: {result.detail}")
    if failures:
        raise ServingFailed("; ".join(failures))


def _canary(step: CanaryWeight, run: StepRun) -> None:
    run.canary_failures = run_canary_step(step, run.ctx.driver, run.ctx.predict,
                                          run.ctx.progress, run.canary_failures)


def _switch(step: SwitchTraffic, run: StepRun) -> None:
    assert run.launch is not None, "a switch follows the RunServer step that had a launch"
    run.ctx.driver.switch(run.launch)
    failpoint("after-switch")


def _prune(step: PruneVersion, run: StepRun) -> None:
    run.ctx.progress(f"pruning {step.model}/{step.version}")
    shutil.rmtree(step.target, ignore_errors=True)
    run.report.pruned.append(f"{step.model}/{step.version}")


def _destroy(step: DestroyServer, run: StepRun) -> None:
    run.ctx.progress(f"removing the server {run.report.server!r}")
    run.ctx.driver.destroy()


def _remove_file(step: RemoveFile, run: StepRun) -> None:
    remove_file(Path(step.path))


#: the one executor of each step type
EXECUTORS: dict[type, Callable[[Any, StepRun], None]] = {
    RemoveLeftover: _remove_leftover, ExportVersion: _export, WriteSideFile: _write_side_file,
    RemoveSideFile: _remove_side_file, WriteModelConfig: _write_model_config,
    ReloadConfig: _reload, RunServer: _run_server, SettleServer: _settle, WaitServing: _wait,
    SmokeTests: _smoke,
    CanaryWeight: _canary, SwitchTraffic: _switch, PruneVersion: _prune,
    DestroyServer: _destroy, RemoveFile: _remove_file,
}


def execute(step: ExecStep, run: StepRun) -> None:
    EXECUTORS[type(step)](step, run)
