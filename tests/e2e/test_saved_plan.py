"""`tfsctl plan --out` then `tfsctl apply PLANFILE`: exactly that plan, or a clear refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.deployment import Deployment

pytestmark = pytest.mark.slow
MODEL = Path(__file__).resolve().parents[2] / "examples/models/half_plus_two/1"


def _spec(d: Deployment) -> None:
    d.write([{"name": "hpt", "versions": {1: {"source": {"saved_model": str(MODEL)}}}}])


def test_saved_plan_is_refused_when_the_world_changed(tmp_path: Path) -> None:
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    _spec(d)
    saved = d.tfsctl("plan", "-f", str(d.spec_file), "--out", "plan.json", check=True)
    assert "apply it with `tfsctl apply plan.json`" in saved.stderr
    # someone puts a version dir in place by hand: the saved plan is stale
    shutil.copytree(MODEL, d.root / "models/hpt/1")
    refused = d.tfsctl("apply", "plan.json", "--auto-approve")
    assert refused.returncode == 1
    assert "the live state changed since this plan was made" in refused.stderr
    assert not (d.root / "models/model.config").exists(), "nothing was changed"


def test_saved_plan_applies(tmp_path: Path) -> None:
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    _spec(d)
    try:
        d.tfsctl("plan", "-f", str(d.spec_file), "--out", "plan.json", check=True)
        d.spec_file.write_text("this file changed after the plan was saved: not used")
        d.tfsctl("apply", "plan.json", "--auto-approve", check=True)
        assert d.predict("hpt", [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]
    finally:
        _spec(d)
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def test_a_saved_plan_applies_after_its_spec_file_moved(deployment: Deployment) -> None:
    """A plan file is the program apply runs: the spec file may go (as with Terraform)."""
    d = deployment
    _spec(d)
    d.tfsctl("plan", "-f", str(d.spec_file), "--out", "plan.json", check=True)
    moved = d.root.parent / "moved-away.yaml"
    d.spec_file.rename(moved)
    try:
        d.tfsctl("apply", "plan.json", "--auto-approve", check=True)
        assert d.predict("hpt", [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]
    finally:
        moved.rename(d.spec_file)  # back, for the plan below and the fixture's destroy
    assert d.plan_exit_code() == 0, "the saved plan converged"
