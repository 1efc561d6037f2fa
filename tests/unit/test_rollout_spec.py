"""`rollout:` on a server: durations, defaults, and what validation refuses (the located
errors are cases in bad_specs/ (rollout_*.yaml)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tfsctl.cli.spec_commands import schema_text
from tfsctl.serverconfig.launch import MONITORING_FILE, ServerView, server_args, side_files
from tfsctl.spec.model import Server, Spec
from tfsctl.spec.rollout import DEFAULT_STEPS, Rollout, format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("1.5m", 90.0), ("1h", 3600.0),
    (" 10s ", 10.0), (7, 7.0), (0.25, 0.25), ("12", 12.0)])
def test_durations_are_read_in_seconds(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30 sec", "s", "-3s", "1d", True, None, [30]])
def test_what_is_not_a_duration_is_refused(text: object) -> None:
    with pytest.raises(ValueError, match="a duration is"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=86_400))
def test_a_formatted_duration_reads_back(seconds: int) -> None:
    text = format_duration(float(seconds))
    minutes, _, rest = text.partition("m")
    total = (float(minutes) * 60 + (float(rest.rstrip("s")) if rest else 0)) if "m" in text \
        else float(text.rstrip("s"))
    assert total == seconds


def test_the_default_is_blue_green_without_steps() -> None:
    rollout = Server(name="tfs").rollout
    assert rollout.strategy == "blue_green" and not rollout.canary
    assert rollout.canary_steps == ()


def test_a_canary_word_takes_the_default_steps() -> None:
    rollout = Rollout.model_validate("canary")
    assert rollout.canary and rollout.canary_steps == DEFAULT_STEPS
    assert rollout.on_inconclusive == "stop"


def test_steps_belong_to_a_canary() -> None:
    with pytest.raises(ValidationError, match="steps"):
        Rollout.model_validate({"steps": [{"weight": 20, "pause": "1s"}]})


@pytest.mark.parametrize("step", [{"weight": 0, "pause": "1s"}, {"weight": 100, "pause": "1s"},
                                  {"weight": 20, "pause": "0s"}, {"weight": 20}])
def test_a_step_is_a_share_below_all_for_some_time(step: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Rollout.model_validate({"strategy": "canary", "steps": [step]})


def test_a_canary_switches_prometheus_on_for_its_instances() -> None:
    plain = Server(name="tfs")
    canary = Server(name="tfs", rollout="canary")
    off = Server(name="tfs", rollout="canary", monitoring={"prometheus": False, "path": "/m"})
    assert plain.served_monitoring is None and not side_files(plain)
    assert canary.served_monitoring is not None and canary.served_monitoring.prometheus
    assert off.served_monitoring is not None and off.served_monitoring.path == "/m"
    assert off.served_monitoring.prometheus
    assert [f.name for f in side_files(canary)] == [MONITORING_FILE]
    assert any(a.startswith("--monitoring_config_file=") for a in server_args(canary,
                                                                              ServerView("/m")))


@pytest.mark.parametrize("rollout, valid", [
    ("canary", True), ("blue_green", True), ("rolling", False),
    ({"strategy": "canary", "steps": [{"weight": 20, "pause": "30s"}],
      "analysis": {"interval": "10s", "max_p99_latency_ms": 500}}, True),
    ({"strategy": "canary", "on_inconclusive": "promote"}, False),
    ({"strategy": "canary", "steps": [{"weight": 20, "pause": "30s", "wait": 1}]}, False),
])
def test_the_schema_takes_what_validation_takes(rollout: object, valid: bool) -> None:
    schema = jsonschema.Draft202012Validator(json.loads(schema_text()))
    spec = {"apiVersion": "tfsctl/v1", "servers": [{"name": "tfs", "rollout": rollout}]}
    assert schema.is_valid(spec) is valid
    try:
        Spec.model_validate(spec)
    except ValueError:
        assert not valid
    else:
        assert valid
