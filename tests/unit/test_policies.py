"""The example Rego policies (examples/policies): each rule fires when it should, and only then.

Inputs are JSON plans as `tfsctl plan --json` prints them (the renderer tests' scenarios,
plus a few edits); the last tests run `tfsctl plan --policy` as a CI job does.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.plan_render.builders import SCENARIOS, entry, plan, replace_server, server
from tests.support.paths import REPO
from tfsctl.errors import TfsctlError
from tfsctl.plan.model import Baseline, BaselineKind, Plan, PolicyLevel, ServerAction
from tfsctl.plan.render.json import plan_to_dict
from tfsctl.rego import evaluate
from tfsctl.spec.model_spec import SmokeTest

POLICIES = REPO / "examples" / "policies"


def findings(target: Plan | dict[str, Any]) -> list[tuple[str, str]]:
    data = plan_to_dict(target) if isinstance(target, Plan) else target
    return [(f.rule, f.message) for f in evaluate([POLICIES], data)]


def rules(target: Plan | dict[str, Any]) -> set[str]:
    return {rule for rule, _ in findings(target)}


def in_env(target: Plan, environment: str | None) -> Plan:
    return dataclasses.replace(target, environment=environment)


def labelled(smoke: int) -> Plan:
    request = SmokeTest(request={"instances": [1.0]}, expect={"predictions": [2.5]})
    return plan(server(ServerAction.RELOAD, desired_entries=(
        entry("half_plus_two", labels=(("stable", 1),)), entry("unlabelled")),
        smoke=(("half_plus_two", (request,) * smoke),) if smoke else ()))


# ------------------------------------------------------------------ no destroy in prod

def test_destroy_in_prod_is_denied_for_servers_models_and_versions() -> None:
    messages = findings(SCENARIOS["destroy"])  # environment prod
    assert ("deny_destroy_in_prod", "server default would be destroyed in prod") in messages
    assert ("deny_destroy_in_prod", "server default would stop serving model half_plus_two "
            "in prod") in messages
    assert ("deny_destroy_in_prod", "server default would delete version 1 of half_plus_two "
            "in prod (destroy --purge)") in messages
    assert "deny_destroy_in_prod" in rules(SCENARIOS["prune_only"])


@pytest.mark.parametrize("environment", ["staging", None])
def test_destroy_outside_prod_is_allowed(environment: str | None) -> None:
    assert "deny_destroy_in_prod" not in rules(in_env(SCENARIOS["destroy"], environment))


def test_creating_in_prod_is_not_a_destroy() -> None:
    assert "deny_destroy_in_prod" not in rules(SCENARIOS["create"])


# ------------------------------------------------------------------ labelled models have smoke

def test_a_labelled_model_without_smoke_requests_is_denied_in_any_environment() -> None:
    for environment in ("prod", None):
        assert findings(in_env(labelled(smoke=0), environment)) == [(
            "deny_labelled_model_without_smoke", "model half_plus_two on server default has "
            "labels (stable) but no smoke requests: add `smoke:` to it")]


def test_labelled_models_with_smoke_and_unlabelled_models_pass() -> None:
    assert findings(labelled(smoke=1)) == []


# ------------------------------------------------------------------ no downtime in prod

@pytest.mark.parametrize("action", [ServerAction.REPLACE, ServerAction.RESTART, ServerAction.START])
def test_downtime_in_prod_is_denied(action: ServerAction) -> None:
    target = plan(dataclasses.replace(replace_server(), action=action))
    assert [m for r, m in findings(target) if r == "deny_replace_with_downtime_in_prod"] == [
        f"server default: {action.value}, with downtime, in prod (image "
        "tensorflow/serving:2.18.0 -> tensorflow/serving:2.19.1)"]


def test_a_reload_in_prod_or_a_replace_elsewhere_is_allowed() -> None:
    assert "deny_replace_with_downtime_in_prod" not in rules(SCENARIOS["reload"])
    assert rules(in_env(SCENARIOS["replace"], "staging")) == set()


def test_an_old_snapshot_is_a_warning_not_a_denial() -> None:
    def at_age(seconds: int) -> Plan:
        return plan(server(), baseline=Baseline(BaselineKind.SNAPSHOT, "live.json",
                                                "2026-12-01T09:30:00+00:00", seconds))

    result = evaluate([POLICIES], plan_to_dict(at_age(2 * 86400)))
    assert [(f.level, f.rule, f.message) for f in result] == [(
        PolicyLevel.WARN, "warn_old_snapshot", "the live-state snapshot live.json is 48 hours "
        "old: take a new one in the deploy job")]
    assert findings(at_age(3600)) == []


# ------------------------------------------------------------------ the engine itself

def test_a_policy_that_does_not_compile_names_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "broken.rego").write_text("package main\n\ndeny contains msg if {\n  msg := \n}\n")
    with pytest.raises(TfsctlError, match=r"broken\.rego:4:7: Invalid assignment operator"):
        evaluate([tmp_path], {})


def test_conftest_v0_rules_and_msg_objects_are_read(tmp_path: Path) -> None:
    (tmp_path / "v0.rego").write_text('package main\n\ndeny[msg] {\n  input.x == 1\n'
                                      '  msg := "v0 rule"\n}\n')
    (tmp_path / "obj.rego").write_text('package main\n\nimport rego.v1\n\nwarn contains '
                                       '{"msg": "as object"} if input.x == 1\n')
    (tmp_path / "ignored_test.rego").write_text("this is not even rego")
    assert [(f.level, f.rule, f.message) for f in evaluate([tmp_path], {"x": 1})] == [
        (PolicyLevel.DENY, "deny", "v0 rule"), (PolicyLevel.WARN, "warn", "as object")]
    assert evaluate([tmp_path], {"x": 2}) == ()


def test_without_the_engine_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setitem(sys.modules, "regopy", None)
    with pytest.raises(TfsctlError) as caught:
        evaluate([POLICIES], {})
    assert caught.value.hint == "install the policy engine: pip install 'tfsctl[policy]' (it " \
                                "brings regopy)"


def test_plan_policy_exits_1_naming_the_rule_and_prints_warnings(tmp_path: Path) -> None:
    """multi_model labels models without smoke requests: the example policy denies it, in
    every format, and the message reaches stderr for a JSON or Markdown run."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(REPO),
           "DOCKER_HOST": "unix:///nonexistent/tfsctl-tests/docker.sock"}

    def plan_with(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "plan", "--policy",
                               str(POLICIES), *args], capture_output=True, text=True, cwd=REPO,
                              env=env, timeout=120)

    spec = "examples/multi_model.yaml"
    denied = plan_with("-f", spec, "--against", spec, "--format", "markdown")
    assert denied.returncode == 1
    message = ("Policy denied [deny_labelled_model_without_smoke]: model half_plus_two on "
               "server multi has labels (canary, stable) but no smoke requests")
    assert message in denied.stderr
    assert "**2 policy denials: the plan fails its policies.**" in denied.stdout
    passed = plan_with("-f", "examples/half_plus_two.yaml", "--against",
                       "examples/half_plus_two.yaml", "--detailed-exitcode")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Policy" not in passed.stdout
