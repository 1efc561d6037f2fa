"""Real planner output, not hand-built plans: every planner case renders and round-trips.

Reuses the planner's fixture cases (tests/unit/plan_cases), so a field the
planner starts filling in that the JSON forgets, or a shape the renderers do
not expect, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.plan_render.golden import text_of
from tests.unit.plan_fixtures import case_files, live_state, sources
from tfsctl.plan.diff import build_plan
from tfsctl.plan.model import Plan
from tfsctl.plan.render.json import plan_from_dict, render_json
from tfsctl.plan.render.markdown import render_markdown
from tfsctl.spec.load import load_spec

CASES = Path(__file__).resolve().parents[1] / "unit" / "plan_cases"


def _plan(case_file: Path, tmp_path: Path) -> Plan:
    case = yaml.safe_load(case_file.read_text())
    spec_file = tmp_path / "tfsctl.yaml"
    spec_file.write_text(case["spec"])
    loaded = load_spec(spec_file)
    secrets = case.get("secrets") or {}
    return build_plan(loaded, live_state(loaded.spec, case.get("live") or {}, secrets),
                      sources=sources(case), secrets=secrets, destroy=case.get("destroy", False),
                      purge=case.get("purge", False))


@pytest.mark.parametrize("case_file", case_files(CASES), ids=lambda p: p.stem)
def test_planner_case_renders_and_round_trips(case_file: Path, tmp_path: Path) -> None:
    plan = _plan(case_file, tmp_path)
    assert plan_from_dict(json.loads(render_json(plan))) == plan
    text, markdown = text_of(plan), render_markdown(plan)
    for server in plan.servers:
        assert f'server "{server.name}"' in text
        assert markdown.count("<details>") >= (1 if server.has_changes else 0)
    last = text.splitlines()[-1]
    assert last.startswith("Plan: ") if plan.has_changes else last.startswith("No changes.")
