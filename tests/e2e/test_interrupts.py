"""Applies that were cut short or could not converge: each ends in a clean state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deployment import HALF_PLUS_TWO, Deployment, hpt_model
from tfsctl.atomic import TEMP_PREFIX
from tfsctl.failpoints import ENV

pytestmark = pytest.mark.slow


def _local(tmp_path: Path) -> Deployment:
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    return d


def test_pruning_under_policy_all_converges(tmp_path: Path) -> None:
    """Versions 1 and 2 served (label on 2); the spec keeps only 1 with `prune: true`."""
    d = _local(tmp_path)
    source = {"source": {"saved_model": str(HALF_PLUS_TWO)}}
    d.write([{"name": "hpt", "policy": "all", "versions": {1: source, 2: source},
              "labels": {"stable": 2}}])
    try:
        d.apply()
        d.write([{"name": "hpt", "policy": "all", "prune": True, "versions": {1: source},
                  "labels": {"stable": 1}}])
        d.apply("--timeout", "300")
        assert not (d.root / "models/hpt/2").exists()
        assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
        assert d.plan_exit_code() == 0
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def test_a_kill_during_an_export_leaves_no_work_dir(tmp_path: Path) -> None:
    d = _local(tmp_path)
    d.write([hpt_model([1], 1)])
    try:
        d.apply()
        d.write([hpt_model([1, 2], 2)])
        killed = subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "apply", "-f",
                                 str(d.spec_file), "--auto-approve"], capture_output=True, text=True,
                                cwd=d.root, timeout=600, env={**os.environ, ENV: "export-before-rename"})
        assert killed.returncode == -9, killed.stderr
        assert d.guardian_done(timeout=300), "the guardian undid the killed apply"
        left = [p.name for p in (d.root / "models/hpt").iterdir() if p.name.startswith(TEMP_PREFIX)]
        assert left == [], f"left beside the versions: {left}"
        assert d.answers_version_1()
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def test_ctrl_c_right_after_the_reload_rolls_back_whole(tmp_path: Path) -> None:
    """Ctrl-C the moment the server took the new config: apply's own rollback restores
    everything (the failpoint raises it there, on a machine of any speed)."""
    d = _local(tmp_path)
    d.write([hpt_model([1], 1)])
    try:
        d.apply()
        d.write([hpt_model([1, 2], 2)])
        apply = d.apply(check=False, env={ENV: "after-reload:interrupt"})
        stderr = apply.stderr
        assert apply.returncode == 1, stderr
        assert "interrupted (Ctrl-C or SIGTERM)" in stderr and "NOT restored" not in stderr, stderr
        assert "Traceback" not in stderr and "recursion" not in stderr, stderr
        assert d.answers_version_1()
        d.assert_no_partial_version("Ctrl-C after the reload")
        assert not (d.root / "models/hpt/2").exists(), "the exported version was taken back"
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
