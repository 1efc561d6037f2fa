"""A canary in the plan: which changes go through one, and the steps apply runs for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.plan_fixtures import live_state
from tfsctl.plan.diff import build_plan
from tfsctl.plan.execution import CanaryWeight, SmokeTests, SwitchTraffic
from tfsctl.plan.model import Plan, ServerAction
from tfsctl.plan.render.json import plan_from_dict, plan_to_dict
from tfsctl.runtimes.registry import runtime_checks
from tfsctl.spec.load import load_spec

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: default
    model_root: /srv/models
    rollout:
      strategy: canary
      steps: [{weight: 20, pause: 2s}, {weight: 50, pause: 2s}]
      analysis: {interval: 1s, min_requests: 5}
      on_inconclusive: {quiet}
    models:
      - name: m
        versions: {1: {}, 2: {}}
        smoke: [{request: {instances: [1.0]}, expect: {predictions: [2.5]}}]
"""


#: model.config as a canary server serving version 1 has it (pinned)
SERVING_V1 = """model_config_list {
  config {
    name: "m"
    base_path: "/models/m"
    model_platform: "tensorflow"
    model_version_policy {
      specific {
        versions: 1
      }
    }
  }
}
"""


def _plan(tmp_path: Path, *, on_disk: list[int], served: dict[int, str], quiet: str = "stop",
          status: str = "running", rollout: bool = True) -> Plan:
    spec = tmp_path / "tfsctl.yaml"
    text = SPEC.replace("{quiet}", quiet)
    if not rollout:
        text = text.replace("strategy: canary", "strategy: blue_green").replace(
            "      steps: [{weight: 20, pause: 2s}, {weight: 50, pause: 2s}]\n", "")
    spec.write_text(text)
    loaded = load_spec(spec, checks=runtime_checks)
    live = live_state(loaded.spec, {"default": {
        "runtime": {"status": status, "config_hash": "<desired>"},
        "model_config": SERVING_V1 if served else None, "side_files": {"monitoring.config":
                                                                        "<desired>"},
        "model_dirs": {"m": {"versions": on_disk}}, "report": {"m": served}}}, {})
    return build_plan(loaded, live, sources={}, secrets={})


def test_a_new_version_is_a_canary_instead_of_a_hot_reload(tmp_path: Path) -> None:
    plan = _plan(tmp_path, on_disk=[1, 2], served={1: "AVAILABLE"})
    server = plan.servers[0]
    assert server.action is ServerAction.REPLACE and not server.downtime
    assert server.canary is not None and server.canary.steps == ((20, 2.0), (50, 2.0))
    assert server.canary.describe().startswith("canary 20% for 2s, 50% for 2s, then 100%")
    steps = plan.execution[0].steps
    kinds = [type(s).__name__ for s in steps]
    assert kinds.index("SmokeTests") < kinds.index("CanaryWeight") < kinds.index("SwitchTraffic")
    canary = [s for s in steps if isinstance(s, CanaryWeight)]
    assert [(c.number, c.of, c.weight, c.pause) for c in canary] == [(1, 2, 20, 2.0),
                                                                    (2, 2, 50, 2.0)]
    assert canary[0].metrics_path == "/monitoring/prometheus/metrics"
    assert canary[0].smoke == ()  # sent only to make up a quiet interval
    assert isinstance(steps[-1], SwitchTraffic)


def test_the_serving_instance_never_picks_up_the_canarys_version(tmp_path: Path) -> None:
    """model.config pins the served versions: a `latest` policy would load version 2 into
    the stable instance too as soon as its directory appears."""
    plan = _plan(tmp_path, on_disk=[1, 2], served={1: "AVAILABLE"})
    (entry,) = plan.servers[0].desired_entries
    assert str(entry.policy) == "specific [2]"


def test_smoke_traffic_carries_the_smoke_requests(tmp_path: Path) -> None:
    plan = _plan(tmp_path, on_disk=[1, 2], served={1: "AVAILABLE"}, quiet="smoke_traffic")
    canary = plan.execution[0].of(CanaryWeight)
    smoke = plan.execution[0].of(SmokeTests)
    assert canary[0].smoke == ((smoke[0].model, smoke[0].tests),)
    assert "send the smoke requests" in (plan.servers[0].canary.describe()  # type: ignore[union-attr]
                                        )


def test_a_saved_plan_keeps_the_canary(tmp_path: Path) -> None:
    plan = _plan(tmp_path, on_disk=[1, 2], served={1: "AVAILABLE"}, quiet="smoke_traffic")
    assert plan_from_dict(plan_to_dict(plan)) == plan


@pytest.mark.parametrize("case", ["create", "blue_green"])
def test_no_canary_without_a_serving_instance_or_the_strategy(tmp_path: Path, case: str) -> None:
    if case == "create":
        plan = _plan(tmp_path, on_disk=[1, 2], served={}, status="missing")
        assert plan.servers[0].action is ServerAction.CREATE
    else:
        plan = _plan(tmp_path, on_disk=[1, 2], served={1: "AVAILABLE"}, rollout=False)
        assert plan.servers[0].action is ServerAction.RELOAD
    assert plan.servers[0].canary is None
    assert not plan.execution[0].of(CanaryWeight)


def test_turning_a_canary_on_restarts_the_server_with_its_metrics(tmp_path: Path) -> None:
    """A server made without monitoring gets it (both instances need their own figures):
    the monitoring side file is written and the change itself runs as a canary."""
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(SPEC.replace("{quiet}", "stop"))
    loaded = load_spec(spec, checks=runtime_checks)
    live = live_state(loaded.spec, {"default": {
        "runtime": {"status": "running", "config_hash": "<desired>"},
        "model_config": SERVING_V1, "model_dirs": {"m": {"versions": [1]}},
        "report": {"m": {1: "AVAILABLE"}}}}, {})
    plan = build_plan(loaded, live, sources={}, secrets={})
    server = plan.servers[0]
    assert [f.name for f in server.files] == ["monitoring.config"]
    assert server.action is ServerAction.RESTART and server.canary is not None
