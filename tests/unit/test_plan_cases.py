"""Planner cases as fixture files: spec + observed live state in, plan lines out.

Add a case by adding a YAML file to plan_cases/; `expect:` lists only the keys
it cares about per server (missing keys must be empty: a case that says
nothing about exports asserts there are none).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.plan_fixtures import case_files, live_state, plan_lines, sources
from tfsctl.plan.diff import build_plan
from tfsctl.spec.load import load_spec

CASES = Path(__file__).parent / "plan_cases"


@pytest.mark.parametrize("case_file", case_files(CASES), ids=lambda p: p.stem)
def test_plan_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text())
    spec_file = tmp_path / "tfsctl.yaml"
    spec_file.write_text(case["spec"])
    loaded = load_spec(spec_file)
    secrets = case.get("secrets") or {}
    live = live_state(loaded.spec, case.get("live") or {}, secrets)
    plan = build_plan(loaded, live, sources=sources(case), secrets=secrets,
                      destroy=case.get("destroy", False), purge=case.get("purge", False))
    for server_plan in plan.servers:
        expected = dict.fromkeys(("versions", "models", "files", "label_steps", "hazards",
                                  "drift"), [])
        expected.update(case["expect"][server_plan.name])
        got = plan_lines(server_plan)
        if "reasons" in expected:  # checked where a case names them
            got["reasons"] = list(server_plan.reasons)
        assert got == {"action": expected.get("action", "none"), **{
            k: sorted(v) if k in ("hazards", "drift") else v for k, v in expected.items()
            if k != "action"}}, f"{case_file.name}: {server_plan.name}"
    assert plan.has_changes == case.get("has_changes", True)


def test_cases_exist() -> None:
    assert len(case_files(CASES)) >= 10
