"""Every apply converges: after the steps of a plan ran, the same spec plans no change.

A property test over random pairs of specs (fields added and removed: batching,
monitoring, env, flags, labels, models, versions, policies): spec A is applied to an
empty machine, then spec B over it, each by a pure simulation of what the plan's steps
do to the live state; planning B again must then find nothing to do. It fails, for
example, when a removed side file's step is missing (batching.config left behind:
every later apply restarted the server) or when a version dropped from the spec
stays served under `latest`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfsctl.live.state import (
    ConfigFile,
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
from tfsctl.plan.diff import build_plan
from tfsctl.plan.execution import (
    ExportVersion,
    PruneVersion,
    RemoveSideFile,
    RunServer,
    ServerExecution,
    WaitServing,
    WriteModelConfig,
    WriteSideFile,
)
from tfsctl.plan.model import Plan
from tfsctl.serverconfig.model_config import render_text
from tfsctl.spec.load import load_spec

ROOT = "/srv/models"


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    server: dict[str, Any] = {"name": "s", "runtime": draw(st.sampled_from(["local", "docker"])),
                              "model_root": ROOT, "allow_external_base_paths": True}
    if server["runtime"] == "docker":
        del server["allow_external_base_paths"]
    if draw(st.booleans()):
        server["batching"] = {"max_batch_size": draw(st.sampled_from([8, 32]))}
    if draw(st.booleans()):
        server["monitoring"] = {"prometheus": True}
    if draw(st.booleans()):
        server["env"] = {"A": draw(st.sampled_from(["x", "y"]))}
    if draw(st.booleans()):
        server["flags"] = {"tensorflow_session_parallelism": draw(st.sampled_from([1, 2]))}
    models = []
    for name in draw(st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2, unique=True)):
        versions = draw(st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3, unique=True))
        policy = draw(st.sampled_from(["latest", "all", "specific"]))
        model: dict[str, Any] = {
            "name": name, "versions": {v: {"source": {"saved_model": f"/src/{name}"}}
                                       for v in versions}}
        if policy == "all":
            model["policy"] = "all"
        elif policy == "specific":
            model["policy"] = {"specific": sorted(versions)}
        served = max(versions) if policy == "latest" else draw(st.sampled_from(versions))
        if draw(st.booleans()):
            model["labels"] = {"stable": served}
        models.append(model)
    server["models"] = models
    return {"apiVersion": "tfsctl/v1", "servers": [server]}


def _plan(spec: dict[str, Any], live: LiveState, tmp: Path) -> Plan:
    file = tmp / "tfsctl.yaml"
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    return build_plan(load_spec(file), live, sources={}, secrets={})


def _empty() -> LiveState:
    return LiveState((LiveServer(
        name="s", model_dirs=(), model_config=ConfigFile(Path(ROOT) / "model.config", False),
        side_files=tuple((name, ConfigFile(Path(ROOT) / name, False))
                         for name in ("batching.config", "monitoring.config")),
        runtime=RuntimeState(RuntimeStatus.MISSING), report=ServerReport(False)),))


def _simulate(live: LiveServer, steps: ServerExecution, sequence: int) -> LiveServer:
    """What the steps leave behind, had every one of them succeeded."""
    dirs = {name: set(v.version for v in d.versions) for name, d in live.model_dirs}
    files = dict(live.side_files)
    config, runtime, served = live.model_config, live.runtime, live.report
    for step in steps.steps + steps.after_commit:
        if isinstance(step, ExportVersion):
            dirs.setdefault(step.model, set()).add(step.version)
        elif isinstance(step, PruneVersion):
            dirs.get(step.model, set()).discard(step.version)
        elif isinstance(step, WriteSideFile):
            files[step.name] = ConfigFile(Path(step.path), True, step.content)
        elif isinstance(step, RemoveSideFile):
            files[step.name] = ConfigFile(Path(step.path), False)
        elif isinstance(step, WriteModelConfig):
            config = ConfigFile(Path(step.path), True, render_text(step.entries), step.entries)
        elif isinstance(step, RunServer):
            assert steps.desired_runtime is not None
            runtime = RuntimeState(RuntimeStatus.RUNNING, steps.desired_runtime.config_hash({}),
                                   settings=tuple(sorted(
                                       steps.desired_runtime.stamped_settings().items())))
        elif isinstance(step, WaitServing):
            served = ServerReport(True, "127.0.0.1:8501", tuple(
                ServedModel(m, tuple(ServedVersion(v, VersionState.AVAILABLE) for v in versions))
                for m, versions in step.serve if versions))
    model_dirs = tuple((name, ModelDir(Path(ROOT) / name, True, tuple(
        VersionDir(v, str(v), True) for v in sorted(versions)))) for name, versions in dirs.items())
    return dataclasses.replace(
        live, model_dirs=model_dirs, model_config=config, side_files=tuple(files.items()),
        runtime=runtime, report=served,
        last_applied=LastApplied(sequence, "2026-01-01T00:00:00Z", "d", config.text or "",
                                 runtime.config_hash))


def _apply(spec: dict[str, Any], live: LiveState, tmp: Path, sequence: int) -> LiveState:
    plan = _plan(spec, live, tmp)
    assert not plan.errors, plan.errors
    server, steps = live.servers[0], plan.execution[0]
    return LiveState((_simulate(server, steps, sequence),))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=specs(), second=specs())
def test_every_apply_converges(tmp_path: Path, first: dict[str, Any], second: dict[str, Any]) -> None:
    after_first = _apply(first, _empty(), tmp_path, 1)
    again = _plan(first, after_first, tmp_path)
    assert not again.has_changes, (first, again.servers[0])
    after_second = _apply(second, after_first, tmp_path, 2)
    final = _plan(second, after_second, tmp_path)
    assert not final.has_changes, (first, second, final.servers[0])
    assert not final.servers[0].drift, final.servers[0].drift
