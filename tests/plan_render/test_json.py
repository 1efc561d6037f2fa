"""The JSON plan: exact round trip, stable keys, enums as strings, documented fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plan_render.builders import SCENARIOS
from tests.plan_render.golden import assert_golden
from tfsctl.errors import TfsctlError
from tfsctl.plan.model import PLAN_FORMAT_VERSION, Plan
from tfsctl.plan.render.json import plan_from_dict, plan_to_dict, render_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "plan-json.md"

TOP_KEYS = ["format_version", "tfsctl_version", "spec", "live_fingerprint", "compared_against",
            "destroy", "has_changes", "summary", "errors", "notes", "policy", "servers",
            "execution"]
SERVER_KEYS = ["name", "runtime", "action", "reasons", "downtime", "rolling", "canary",
               "has_changes",
               "runtime_config_hash", "versions", "models", "files", "label_steps", "hazards",
               "drift", "desired_model_config", "serve", "smoke"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_round_trip_is_exact(name: str) -> None:
    plan = SCENARIOS[name]
    assert plan_from_dict(json.loads(render_json(plan))) == plan


def test_json_matches_golden() -> None:
    assert_golden("reload.json", render_json(SCENARIOS["reload"]) + "\n")


def test_key_order_is_stable() -> None:
    data = plan_to_dict(SCENARIOS["two_servers"])
    assert list(data) == TOP_KEYS
    assert list(data["spec"]) == ["file", "digest", "environment", "anchor"]
    assert list(data["summary"]) == ["add", "change", "destroy"]
    assert all(list(server) == SERVER_KEYS for server in data["servers"])


def test_enums_are_their_string_values() -> None:
    server = plan_to_dict(SCENARIOS["reload"])["servers"][0]
    assert server["action"] == "reload" and server["downtime"] is False
    assert [v["change"] for v in server["versions"]] == ["create", "create", "create", "delete"]
    assert server["versions"][0]["source"] == {"kind": "checkpoint", "path": "./ckpt/model.ckpt-1000"}
    assert server["desired_model_config"][0]["policy"] == {"kind": "specific", "latest": 0,
                                                          "specific": [2, 3]}
    assert server["desired_model_config"][0]["labels"] == {"canary": 3}
    json.dumps(server)  # nothing that only Python understands


def test_summary_and_errors() -> None:
    data = plan_to_dict(SCENARIOS["errors"])
    assert data["summary"] == {"add": 1, "change": 1, "destroy": 0}
    assert data["has_changes"] is True
    assert [(e["server"], e["kind"]) for e in data["errors"]] == [
        ("default", "source-missing"), ("default", "secret-missing")]
    assert plan_to_dict(SCENARIOS["no_changes"])["has_changes"] is False
    assert plan_to_dict(SCENARIOS["replace"])["servers"][0]["downtime"] is True


@pytest.mark.parametrize("version", [None, 0, PLAN_FORMAT_VERSION + 1, "1"])
def test_other_format_versions_are_refused(version: object) -> None:
    data = plan_to_dict(SCENARIOS["reload"])
    data["format_version"] = version
    with pytest.raises(TfsctlError, match="plan format version"):
        plan_from_dict(data)


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("servers"),
    lambda d: d["servers"][0].update(action="explode"),
    lambda d: d["servers"][0]["versions"][0].pop("model"),
    lambda d: d["servers"][0].update(hazards=[{"kind": "downtime"}]),
    lambda d: d.update(spec=None),
])
def test_malformed_data_is_a_clean_error(damage: Any) -> None:
    data = plan_to_dict(SCENARIOS["reload"])
    damage(data)
    with pytest.raises(TfsctlError, match="malformed"):
        plan_from_dict(data)


def _fields(value: object) -> set[str]:
    """Every key in the JSON, except inside maps whose keys are data (label, setting and model
    names)."""
    if isinstance(value, dict):
        return set(value) | {k for key, v in value.items()
                             if key not in ("labels", "settings", "serve", "smoke") for k in _fields(v)}
    if isinstance(value, list):
        return {k for v in value for k in _fields(v)}
    return set()


def test_every_field_is_documented() -> None:
    doc = DOC.read_text(encoding="utf-8")
    fields = set().union(*(_fields(plan_to_dict(p)) for p in SCENARIOS.values()))
    undocumented = sorted(f for f in fields if f"`{f}`" not in doc)
    assert not undocumented, f"document these fields in {DOC.name}: {undocumented}"
    assert f"`format_version` is `{PLAN_FORMAT_VERSION}`" in doc


def test_the_documented_example_is_a_loadable_plan() -> None:
    doc = DOC.read_text(encoding="utf-8")
    example = doc.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert isinstance(plan_from_dict(json.loads(example)), Plan)
