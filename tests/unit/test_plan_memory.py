"""The memory-limit warning gives the numbers a reviewer needs to act on it."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.plan_fixtures import live_state, sources
from tfsctl.plan.diff import build_plan
from tfsctl.plan.model import HazardKind
from tfsctl.spec.load import load_spec

CASE = Path(__file__).parent / "plan_cases" / "22_memory_limit_rollout.yaml"


def _memory_messages(tmp_path: Path, edit: dict[str, object] | None = None) -> dict[str, list[str]]:
    case = yaml.safe_load(CASE.read_text())
    spec_file = tmp_path / "tfsctl.yaml"
    spec_file.write_text(case["spec"])
    loaded = load_spec(spec_file)
    live = case["live"]
    live["tight"] = {**live["tight"], **(edit or {})}
    plan = build_plan(loaded, live_state(loaded.spec, live, {}), sources=sources(case), secrets={})
    return {s.name: [h.message for h in s.hazards if h.kind is HazardKind.MEMORY_LIMIT]
            for s in plan.servers}


def test_the_warning_names_the_limit_the_total_and_each_version(tmp_path: Path) -> None:
    found = _memory_messages(tmp_path)
    assert found["roomy"] == [] and found["unlimited"] == []
    (message,) = found["tight"]
    assert "memory limit 100.0 MiB is below the 120.0 MiB" in message, message
    assert "m/1 60.0 MiB (served now)" in message and "m/2 60.0 MiB (new)" in message, message


def test_a_fresh_server_loads_only_the_new_versions(tmp_path: Path) -> None:
    """With no server running there is nothing old to hold: 60 MiB fit in 100."""
    found = _memory_messages(tmp_path, {"runtime": {"status": "missing"}, "report": None})
    assert found["tight"] == []
