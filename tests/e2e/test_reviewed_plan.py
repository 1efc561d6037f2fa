"""The pull-request flow for real: snapshot where the server runs, plan elsewhere, apply it.

The deploy side applies a spec and snapshots the live state; the review side (another
directory, as another machine's checkout) changes the spec and plans against the
snapshot; back on the deploy side, that saved plan applies as it is, and a plan from
a snapshot that is out of date is refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.deployment import Deployment, hpt_model

pytestmark = pytest.mark.slow


def test_a_plan_reviewed_against_a_snapshot_is_applied_on_merge(tmp_path: Path) -> None:
    deploy = Deployment(root=tmp_path / "srv" / "project", runtime="local")
    deploy.root.mkdir(parents=True)
    review = tmp_path / "runner" / "checkout"
    review.mkdir(parents=True)
    deploy.write([hpt_model([1], stable=1)])
    try:
        deploy.apply()
        deploy.tfsctl("status", "-f", str(deploy.spec_file), "--snapshot", str(review / "live.json"),
                      check=True)
        snapshot = json.loads((review / "live.json").read_text())
        assert snapshot["servers"][0]["report"]["reachable"] is True

        # the pull request: version 2, and the stable label moves onto it
        deploy.write([hpt_model([1, 2], stable=2)])
        shutil.copy(deploy.spec_file, review / "tfsctl.yaml")
        deploy.write([hpt_model([1], stable=1)])  # main still has the old spec until the merge
        planned = Deployment(root=review, runtime="local").tfsctl(
            "plan", "-f", "tfsctl.yaml", "--live", "live.json", "--detailed-exitcode",
            "--out", "plan.json")
        assert planned.returncode == 2, planned.stdout + planned.stderr
        assert "will be reloaded (model config only: hot reload, no downtime)" in planned.stdout
        assert "Compared against the live-state snapshot live.json" in planned.stdout
        assert str(tmp_path) not in planned.stdout

        # the merge: the deploy job applies the reviewed plan file
        shutil.copy(review / "tfsctl.yaml", deploy.spec_file)
        shutil.copy(review / "plan.json", deploy.root / "plan.json")
        deploy.tfsctl("apply", "plan.json", "--auto-approve", check=True)
        assert deploy.available("hpt") == {"1", "2"}
        assert deploy.predict("hpt", [1.0], "/labels/stable") == [2.5]
        assert deploy.plan_exit_code() == 0

        # a plan from the snapshot taken before that apply is stale now
        stale = Deployment(root=review, runtime="local").tfsctl(
            "plan", "-f", "tfsctl.yaml", "--live", "live.json", "--out", "stale.json")
        assert stale.returncode == 0, stale.stderr
        shutil.copy(review / "stale.json", deploy.root / "stale.json")
        refused = deploy.tfsctl("apply", "stale.json", "--auto-approve")
        assert refused.returncode == 1
        assert "the live state changed since this plan was made" in refused.stderr
    finally:
        deploy.tfsctl("destroy", "-f", str(deploy.spec_file), "--auto-approve")
