"""The order of the steps apply runs, decided at plan time (tfsctl/plan/schedule.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.plan_fixtures import live_state
from tfsctl.plan.diff import build_plan
from tfsctl.plan.execution import (
    ExportVersion,
    ReloadConfig,
    RemoveSideFile,
    RunServer,
    SettleServer,
    WaitServing,
    WriteModelConfig,
)
from tfsctl.spec.load import load_spec

CASES = Path(__file__).resolve().parent / "plan_cases"


def _steps(case: str, tmp_path: Path) -> tuple[object, ...]:
    data = yaml.safe_load((CASES / case).read_text())
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(data["spec"])
    loaded = load_spec(spec)
    plan = build_plan(loaded, live_state(loaded.spec, data["live"], {}), sources={}, secrets={})
    return plan.execution[0].steps


def test_a_reverted_rollout_loads_the_old_version_before_the_label_leaves_the_new(
        tmp_path: Path) -> None:
    """Requests to `stable` never meet an unloaded version: version 1 loads beside 2 first."""
    steps = _steps("23_revert_rollout.yaml", tmp_path)
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["ReloadConfig", "WaitServing", "ReloadConfig", "WaitServing",
                     "WriteModelConfig", "WaitServing"], kinds
    first, second = (s for s in steps if isinstance(s, ReloadConfig))
    assert str(first.entries[0].policy) == "specific [1, 2]"
    assert first.entries[0].label_map == {"stable": 2}
    assert str(second.entries[0].policy) == "specific [1]"
    assert second.entries[0].label_map == {"stable": 1}
    waits = [s for s in steps if isinstance(s, WaitServing)]
    assert waits[0].serve == (("half_plus_two", (1, 2)),)
    assert waits[-1].serve == (("half_plus_two", (1,)),), "version 2 must be gone at the end"


def test_side_file_removal_is_a_step(tmp_path: Path) -> None:
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text("apiVersion: tfsctl/v1\nservers:\n  - name: default\n"
                    "    model_root: /srv/models\n    models: [{name: m, versions: {1: {}}}]\n")
    loaded = load_spec(spec)
    live = live_state(loaded.spec, {"default": {
        "runtime": {"status": "running", "config_hash": "<desired>"}, "model_config": "<desired>",
        "model_dirs": {"m": {"versions": [1]}}, "report": {"m": {1: "AVAILABLE"}},
        "side_files": {"batching.config": "max_batch_size { value: 8 }\n"}}}, {})
    plan = build_plan(loaded, live, sources={}, secrets={})
    removals = [s for s in plan.execution[0].steps if isinstance(s, RemoveSideFile)]
    assert [r.name for r in removals] == ["batching.config"]


def _replace_steps(tmp_path: Path, runtime: str, image: str, port: int = 8501
                   ) -> tuple[object, ...]:
    """The steps of a replace (a new image) that also exports version 2 and moves `stable`
    onto it."""
    spec = tmp_path / "tfsctl.yaml"
    where = "allow_external_base_paths: true" if runtime == "local" else \
        "image: tensorflow/serving:2.19.1"
    spec.write_text(
        f"apiVersion: tfsctl/v1\nservers:\n  - name: default\n    runtime: {runtime}\n"
        f"    model_root: /srv/models\n    {where}\n    ports: {{rest: {port}}}\n"
        "    models:\n      - name: m\n        policy: {specific: [1, 2]}\n"
        "        versions: {1: {}, 2: {source: {saved_model: /src/m}}}\n"
        "        labels: {stable: 2}\n")
    loaded = load_spec(spec)
    live = live_state(loaded.spec, {"default": {
        "runtime": {"status": "running", "config_hash": "old",
                    "settings": {"image": image, "ports.rest": 8501}},
        "model_config": 'model_config_list { config { name: "m" base_path: "/models/m" '
                        'model_platform: "tensorflow" model_version_policy { specific { '
                        'versions: 1 } } version_labels { key: "stable" value: 1 } } }',
        "model_dirs": {"m": {"versions": [1]}}, "report": {"m": {1: "AVAILABLE"}}}}, {})
    steps = build_plan(loaded, live, sources={}, secrets={}).execution[0].steps
    assert any(isinstance(s, RunServer) for s in steps), steps
    return steps


def _replace_with_export(tmp_path: Path, runtime: str, image: str, port: int = 8501) -> list[str]:
    """The step kinds of that replace that order the export."""
    return [type(s).__name__ for s in _replace_steps(tmp_path, runtime, image, port)
            if isinstance(s, (ExportVersion, RunServer, SettleServer, WaitServing))]


def test_a_gated_start_sets_the_labels_at_once(tmp_path: Path) -> None:
    """A new container (or swarm task) takes no request before it serves every version, so
    it starts with `stable` on version 2; a local process restarted in place answers as soon
    as it listens, so there the label moves only once version 2 is AVAILABLE."""
    for runtime in ("docker", "swarm"):
        steps = _replace_steps(tmp_path, runtime, "tensorflow/serving:2.18.0")
        assert not any(isinstance(s, ReloadConfig) for s in steps), (runtime, steps)
        first = next(s for s in steps if isinstance(s, WriteModelConfig))
        assert first.entries[0].label_map == {"stable": 2}, runtime
    local = _replace_steps(tmp_path, "local", "")
    first = next(s for s in local if isinstance(s, WriteModelConfig))
    assert first.entries[0].label_map == {"stable": 1}
    reload = next(s for s in local if isinstance(s, ReloadConfig))
    assert reload.entries[0].label_map == {"stable": 2}


def test_a_blue_green_replace_exports_while_the_new_container_starts(tmp_path: Path) -> None:
    """The new container takes no request before apply switches to it, so its start-up
    overlaps the export; it loads version 2 on its next look at the base path."""
    kinds = _replace_with_export(tmp_path, "docker", "tensorflow/serving:2.18.0")
    assert kinds[:4] == ["RunServer", "ExportVersion", "SettleServer", "WaitServing"], kinds


def test_a_swarm_update_exports_before_it_settles(tmp_path: Path) -> None:
    """The new tasks start with the update and pass their health gate only once they serve
    version 2, so the export runs between the update and the wait for it to converge."""
    kinds = _replace_with_export(tmp_path, "swarm", "tensorflow/serving:2.18.0")
    assert kinds[:4] == ["RunServer", "ExportVersion", "SettleServer", "WaitServing"], kinds


def test_a_replace_that_stops_the_server_exports_first(tmp_path: Path) -> None:
    """Where the serving server stops for the change (a local process; a docker server whose
    published port moves), a failed export must leave it untouched: exports come first."""
    local = _replace_with_export(tmp_path, "local", "")
    assert local[:3] == ["ExportVersion", "RunServer", "SettleServer"], local
    moved = _replace_with_export(tmp_path, "docker", "tensorflow/serving:2.19.1", port=9501)
    assert moved[:3] == ["ExportVersion", "RunServer", "SettleServer"], moved
