"""The saved plan is the whole input of apply: across checkouts and working directories,
with its policy verdict, as a destroy, and for the commonest undo (a reverted rollout).

Each case is the pull-request path as a new user runs it: `plan --out` in one place,
`apply PLANFILE` in another, then `plan --detailed-exitcode` says the state converged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.deployment import HALF_PLUS_TWO, Deployment, hpt_model
from tests.support.net import free_port

pytestmark = pytest.mark.slow


def _tfsctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "NO_COLOR": "1"})


def _checkout(root: Path, name: str) -> Path:
    """A repository with the spec in deploy/, the model root and a source beside it."""
    (root / ".git").mkdir(parents=True)
    shutil.copytree(HALF_PLUS_TWO, root / "exports" / "hpt")
    (root / "deploy").mkdir()
    spec = {"apiVersion": "tfsctl/v1", "servers": [{
        "name": name, "runtime": "local", "model_root": "../models",
        "ports": {"grpc": free_port(), "rest": free_port()},
        "models": [{"name": "hpt", "versions": {1: {"source": {"saved_model": "../exports/hpt"}}},
                    "smoke": [{"request": {"instances": [1.0, 2.0, 5.0]},
                               "expect": {"predictions": [2.5, 3.0, 4.5]}}]}]}]}
    (root / "deploy" / "tfsctl.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def _destroy(spec: Path) -> None:
    _tfsctl("destroy", "-f", str(spec), "--auto-approve", cwd=spec.parent)


def test_a_plan_made_in_one_checkout_applies_in_another(tmp_path: Path) -> None:
    """The PR job plans in its checkout; the merge job applies in another; the first is gone."""
    first = _checkout(tmp_path / "pr-job", f"co{free_port()}")
    made = _tfsctl("plan", "-f", "deploy/tfsctl.yaml", "--out", "p.plan", cwd=first)
    assert made.returncode == 0, made.stderr
    second = tmp_path / "merge-job"
    shutil.copytree(first, second)
    shutil.rmtree(first)
    spec = second / "deploy" / "tfsctl.yaml"
    try:
        applied = _tfsctl("apply", "p.plan", "--auto-approve", cwd=second)
        assert applied.returncode == 0, applied.stderr
        assert f"applying in {second.resolve()}" in applied.stderr
        assert not first.exists(), "apply wrote nothing into the checkout the plan was made in"
        assert (second / "models" / "hpt" / "1" / "saved_model.pb").exists()
        assert _tfsctl("plan", "-f", str(spec), "--detailed-exitcode", cwd=second).returncode == 0
    finally:
        _destroy(spec)


@pytest.mark.parametrize("where", ["a subdirectory", "outside the repository"])
def test_a_plan_applies_from_any_working_directory(tmp_path: Path, where: str) -> None:
    """Planned from the repository root, applied from elsewhere: the same live state."""
    repo = _checkout(tmp_path / "repo", f"wd{free_port()}")
    assert _tfsctl("plan", "-f", "deploy/tfsctl.yaml", "--out", "p.plan", cwd=repo).returncode == 0
    cwd = repo / "deploy" if where == "a subdirectory" else tmp_path
    spec = repo / "deploy" / "tfsctl.yaml"
    try:
        applied = _tfsctl("apply", str(repo / "p.plan"), "--auto-approve", cwd=cwd)
        assert applied.returncode == 0, applied.stderr
        assert "live state changed" not in applied.stderr
    finally:
        _destroy(spec)


def test_a_policy_denied_plan_is_neither_saved_nor_applied(tmp_path: Path) -> None:
    pytest.importorskip("regopy")
    repo = _checkout(tmp_path / "repo", f"pol{free_port()}")
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "deny.rego").write_text(
        'package main\n\ndeny_every_create contains msg if {\n  some server in input.servers\n'
        '  server.action == "create"\n  msg := sprintf("server %s: no creates today", '
        '[server.name])\n}\n')
    refused = _tfsctl("plan", "-f", "deploy/tfsctl.yaml", "--policy", str(policies), "--out",
                      "p.plan", cwd=repo)
    assert refused.returncode == 1
    assert "not saving the plan: policy denied [deny_every_create]" in refused.stderr
    assert not (repo / "p.plan").exists()
    # a verdict in a plan file (an older tfsctl wrote it, or a hand): refused all the same
    assert _tfsctl("plan", "-f", "deploy/tfsctl.yaml", "--out", "p.plan", cwd=repo).returncode == 0
    document = json.loads((repo / "p.plan").read_text())
    document["plan"]["policy"] = [{"level": "deny", "rule": "deny_x", "message": "no"}]
    (repo / "p.plan").write_text(json.dumps(document))
    applied = _tfsctl("apply", "p.plan", "--auto-approve", cwd=repo)
    assert applied.returncode == 1 and "denied by policy [deny_x]" in applied.stderr
    assert not (repo / "models" / "hpt").exists(), "nothing was changed"


def test_a_saved_destroy_plan_is_a_destroy(tmp_path: Path) -> None:
    repo = _checkout(tmp_path / "repo", f"de{free_port()}")
    spec = repo / "deploy" / "tfsctl.yaml"
    try:
        assert _tfsctl("apply", "-f", str(spec), "--auto-approve", cwd=repo).returncode == 0
        made = _tfsctl("plan", "-f", str(spec), "--destroy", "--out", "d.plan", cwd=repo)
        assert made.returncode == 0, made.stderr
        applied = _tfsctl("apply", "d.plan", "--auto-approve", cwd=repo)
        assert applied.returncode == 0 and "Destroy complete." in applied.stdout, applied.stderr
        history = _tfsctl("history", "-f", str(spec), cwd=repo)
        assert history.stdout.splitlines()[-2:] and "destroyed" in history.stdout, history.stdout
        status = _tfsctl("status", "-f", str(spec), cwd=repo)
        assert status.returncode == 0, status.stderr
        assert "not deployed" in status.stdout and "drift" not in status.stdout, status.stdout
    finally:
        _destroy(spec)


def test_reverting_a_rollout_applies_and_converges(deployment: Deployment) -> None:
    """Version 1 labelled stable; then version 2 added and labelled; then the first spec again
    (a `git revert`): version 2 stops being served though its dir stays, on every runtime."""
    d = deployment
    first = {"name": "hpt", "versions": {1: {"source": {"saved_model": str(HALF_PLUS_TWO)}}},
             "labels": {"stable": 1},
             "smoke": [{"label": "stable", "request": {"instances": [1.0]},
                        "expect": {"predictions": [2.5]}}]}
    d.write([first])
    d.apply()
    second = {**first, "versions": {v: {"source": {"saved_model": str(HALF_PLUS_TWO)}}
                                    for v in (1, 2)}, "labels": {"stable": 2}}
    d.write([second])
    d.apply()
    assert d.available("hpt") == {"2"}
    d.write([first])
    plan = d.tfsctl("plan", "-f", str(d.spec_file))
    assert "pins the served versions to [1]" in plan.stdout + plan.stderr, plan.stdout
    reverted = d.apply(check=False)
    assert reverted.returncode == 0, reverted.stderr
    assert d.available("hpt") == {"1"}, "version 2 is no longer served"
    assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
    assert (d.root / "models" / "hpt" / "2").exists(), "its directory stays (not pruned)"
    assert d.plan_exit_code() == 0, "the revert converged"


def test_removing_batching_converges(deployment: Deployment) -> None:
    d = deployment
    d.write([hpt_model([1], 1)], batching={"max_batch_size": 8, "batch_timeout_micros": 1000})
    d.apply()
    assert (d.root / "models" / "batching.config").exists()
    d.write([hpt_model([1], 1)])
    d.apply()
    assert not (d.root / "models" / "batching.config").exists(), "the side file went too"
    assert d.plan_exit_code() == 0, "no restart left pending after removing batching"
