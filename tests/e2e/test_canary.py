"""Canary rollouts on the docker runtime, end to end: the real proxy, real servers, the real
CLI, under a mixed REST + gRPC load.

* a good canary passes every step and is promoted, losing no request;
* a version that passes its smoke request but fails on other inputs is aborted by the
  analysis: apply exits 1 naming the metric, its value, the threshold and the step, the
  serving container is untouched, the history says `canary-aborted`, the change stays
  pending;
* with no traffic, a canary is inconclusive: it stops, never promotes silently, unless the
  spec says to judge it on its smoke requests;
* apply killed (SIGKILL) mid-canary: its guardian sends every request back to the serving
  container and removes the canary; SIGTERM: apply does the same itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import docker
from tests.support.deployment import HALF_PLUS_TWO, Deployment, make_picky_model
from tests.support.load import MixedLoad
from tfsctl.runtimes.docker import container_name
from tfsctl.runtimes.proxy import proxy_name

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKER = [pytest.param("docker", id="docker")]

#: Short steps for tests (no timing is asserted: only outcomes).
ROLLOUT = {"strategy": "canary",
           "steps": [{"weight": 30, "pause": "2s"}, {"weight": 60, "pause": "2s"}],
           "analysis": {"interval": "1s", "max_error_rate": 0.05, "min_requests": 5}}


def _model(versions: dict[int, Path], stable: int) -> dict[str, Any]:
    return {"name": "hpt", "policy": {"specific": sorted(versions)},
            "versions": {v: {"source": {"saved_model": str(p)}} for v, p in versions.items()},
            "labels": {"stable": stable},
            "smoke": [{"request": {"instances": [1.0]}, "expect": {"predictions": [2.5]},
                       "label": "stable"}]}


@pytest.fixture
def canary_d(deployment: Deployment) -> Iterator[Deployment]:
    deployment.write([_model({1: HALF_PLUS_TWO}, 1)], rollout=ROLLOUT)
    deployment.apply()
    yield deployment


@pytest.fixture
def picky_model(tmp_path: Path) -> Path:
    return make_picky_model(tmp_path / "picky")


def _load(d: Deployment) -> MixedLoad:
    """Real inputs (x = 5): half_plus_two answers 4.5, the picky version refuses them."""
    return MixedLoad("127.0.0.1", d.rest, d.grpc, "hpt", "stable", [5.0], [4.5], rate=60)


def _containers(d: Deployment) -> set[str]:
    client = docker.from_env()
    return {c.name for c in client.containers.list(all=True)
            if c.name.startswith(container_name(d.name))}


def _history(d: Deployment) -> str:
    return d.tfsctl("history", "-f", str(d.spec_file), check=True).stdout


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_good_canary_is_promoted_losing_no_request(canary_d: Deployment) -> None:
    d = canary_d
    before = d.server_identity()
    d.write([_model({1: HALF_PLUS_TWO}, 1)], rollout=ROLLOUT, env={"ROLLOUT": "b"})
    plan = d.tfsctl("plan", "-f", str(d.spec_file), check=True).stdout
    assert "rollout: canary 30% for 2s, 60% for 2s, then 100%; abort if error rate > 5%" in plan
    with _load(d) as stream:
        applied = d.apply()
    report = stream.report()
    assert report["sent"] > 50 and report["failed"] == 0, json.dumps(report, indent=1)
    output = applied.stdout + applied.stderr
    assert "canary step 1/2 at 30%" in output and "canary step 2/2 at 60%" in output, output
    assert ": fail;" not in output and ": inconclusive;" not in output, output
    assert d.server_identity() != before
    assert _containers(d) == {proxy_name(d.name), f"{container_name(d.name)}-b"}
    assert d.plan_exit_code() == 0


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_version_failing_on_real_inputs_is_aborted_by_the_analysis(
        canary_d: Deployment, picky_model: Path) -> None:
    d = canary_d
    before = d.server_identity()
    d.write([_model({1: HALF_PLUS_TWO, 2: picky_model}, 2)], rollout=ROLLOUT)
    with _load(d) as stream:
        applied = d.apply(check=False)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    error = applied.stderr + applied.stdout
    assert "canary aborted at step 1 of 2 (30%): error rate" in error, error
    assert "> 5%" in error, error
    # the stable container was never touched; the canary is gone
    assert d.server_identity() == before
    assert _containers(d) == {proxy_name(d.name), container_name(d.name)}
    assert d.predict("hpt", [5.0], "/labels/stable") == [4.5]
    assert "canary-aborted" in _history(d)
    assert d.plan_exit_code() == 2, "the change is still pending"
    # the failed requests are the canary's share of its first step, never more
    report = stream.report()
    assert report["failed"] < report["sent"] / 2, json.dumps(report, indent=1)


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_quiet_canary_is_inconclusive_and_stops(canary_d: Deployment) -> None:
    d = canary_d
    before = d.server_identity()
    d.write([_model({1: HALF_PLUS_TWO}, 1)], rollout=ROLLOUT, env={"ROLLOUT": "b"})
    applied = d.apply(check=False)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "canary inconclusive at step 1 of 2" in applied.stderr + applied.stdout
    assert d.server_identity() == before
    assert _containers(d) == {proxy_name(d.name), container_name(d.name)}
    assert d.plan_exit_code() == 2


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_quiet_canary_may_be_judged_on_its_smoke_requests(canary_d: Deployment) -> None:
    d = canary_d
    before = d.server_identity()
    d.write([_model({1: HALF_PLUS_TWO}, 1)], rollout={**ROLLOUT, "on_inconclusive": "smoke_traffic"},
            env={"ROLLOUT": "b"})
    plan = d.tfsctl("plan", "-f", str(d.spec_file), check=True).stdout
    assert "send the smoke requests to the canary" in plan, plan
    applied = d.apply()
    assert "inconclusive" not in applied.stdout + applied.stderr
    assert d.server_identity() != before
    assert d.plan_exit_code() == 0


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_apply_killed_mid_canary_puts_the_stable_server_back(canary_d: Deployment,
                                                             sig: signal.Signals) -> None:
    """SIGKILL: the guardian undoes it from the journal; SIGTERM: apply rolls back itself."""
    d = canary_d
    before = d.server_identity()
    slow = {**ROLLOUT, "steps": [{"weight": 30, "pause": "60s"}]}
    d.write([_model({1: HALF_PLUS_TWO}, 1)], rollout=slow, env={"ROLLOUT": "b"})
    log = d.root / "apply.log"
    with _load(d) as stream, log.open("w") as out:
        apply = subprocess.Popen(
            [sys.executable, "-m", "tfsctl.cli.main", "apply", "-f", str(d.spec_file),
             "--auto-approve"], cwd=d.root, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"})
        deadline = time.monotonic() + 300
        while "canary step 1/1 at 30%" not in log.read_text():
            assert apply.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        shown = d.tfsctl("status", "-f", str(d.spec_file), check=True).stdout
        assert "canary in progress: step 1/1 at 30%" in shown, shown
        apply.send_signal(sig)
        assert apply.wait(timeout=300) != 0
        assert d.guardian_done(timeout=300), "the guardian did not undo the canary"
    assert d.server_identity() == before
    assert _containers(d) == {proxy_name(d.name), container_name(d.name)}
    assert d.predict("hpt", [5.0], "/labels/stable") == [4.5]
    report = stream.report()
    assert report["failed"] == 0, json.dumps(report, indent=1)
    assert d.plan_exit_code() == 2
    if sig == signal.SIGTERM:
        assert "interrupted" in _history(d)
