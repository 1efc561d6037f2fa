"""The apply lifecycle on both runtimes, with real servers and TF Serving's real test models.

One test walks a deployment through its life, because every step builds on the
last: create, hot-add a model exported from a TF1 checkpoint, move a label,
replace the server, survive a broken version and a failing smoke test, roll
back to an earlier spec, destroy. After every successful apply, `plan` must
report no changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.deployment import Deployment, make_checkpoint
from tests.support.net import free_port

pytestmark = pytest.mark.slow

HPT = [2.5, 3.0, 4.5]  # half_plus_two of 1, 2, 5


def _hpt(sources: Path, *, labels: dict[str, int] | None = None, policy: object = None,
         versions: dict[int, str] | None = None) -> dict:
    versions = versions or {123: "saved_model_half_plus_two_cpu/00000123"}
    model = {"name": "half_plus_two",
             "versions": {v: {"source": {"saved_model": str(sources / p)}} if p else {}
                          for v, p in versions.items()},
             "smoke": [{"request": {"instances": [1.0, 2.0, 5.0]},
                        "expect": {"predictions": HPT}, "label": "stable"} if labels else
                       {"request": {"instances": [1.0, 2.0, 5.0]}, "expect": {"predictions": HPT}}]}
    if labels:
        model["labels"] = labels
    if policy is not None:
        model["policy"] = policy
    return model


def test_lifecycle(deployment: Deployment, tfs_models: Path, tmp_path: Path) -> None:
    d = deployment
    # 1. a fresh apply serves half_plus_two
    d.write([_hpt(tfs_models)])
    d.apply()
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0]) == HPT
    assert d.plan_exit_code() == 0
    identity = d.server_identity()

    # 2. a model exported from a TF1 checkpoint is added with a hot reload (same server)
    checkpoint = make_checkpoint(tmp_path / "ckpt", 3.0, 1.0)
    adder = {"name": "linear", "versions": {1: {"source": {
        "checkpoint": str(checkpoint), "inputs": {"x": "x:0"}, "outputs": {"y": "y:0"}}}},
             "warmup": [{"request": {"instances": [1.0, 2.0]}}]}
    d.write([_hpt(tfs_models), adder])
    result = d.apply()
    assert "reload" in result.stdout + result.stderr
    # the export carries the warmup file the server replays at load
    assert (d.root / "models" / "linear" / "1" / "assets.extra" / "tf_serving_warmup_requests"
            ).is_file()
    assert d.server_identity() == identity, "a model change must not restart the server"
    assert d.predict("linear", [1.0, 2.0]) == pytest.approx([4.0, 7.0])
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0]) == HPT
    assert d.plan_exit_code() == 0

    # 3. a second version, and the `stable` label moved onto it, in one apply
    second = tmp_path / "hpt_v124"
    shutil.copytree(tfs_models / "saved_model_half_plus_two_cpu/00000123", second)
    both = {123: "saved_model_half_plus_two_cpu/00000123", 124: str(second)}
    d.write([_hpt(tfs_models, versions=both, policy={"specific": [123, 124]},
                  labels={"stable": 123}), adder])
    d.apply()
    d.write([_hpt(tfs_models, versions=both, policy={"specific": [123, 124]},
                  labels={"stable": 124}), adder])
    d.apply()
    assert d.available("half_plus_two") == {"123", "124"}
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0], "/labels/stable") == HPT
    assert d.plan_exit_code() == 0
    good_spec = d.spec_file.read_text()

    # 5a. a corrupt source is caught by the export's own load check: nothing reaches the server
    broken = tmp_path / "broken"
    shutil.copytree(tfs_models / "saved_model_half_plus_two_cpu/00000123", broken)
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    d.write([_hpt(tfs_models, versions={**both, 125: str(broken)},
                  policy={"specific": [123, 124, 125]}, labels={"stable": 124}), adder])
    failed = d.apply(check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "does not load as a SavedModel" in failed.stderr
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0], "/labels/stable") == HPT
    assert not (d.root / "models/half_plus_two/125").exists(), "no partial version dir"
    assert not list((d.root / "models/half_plus_two").glob(".tfsctl-tmp-*"))

    # 5b. a corrupt version dir that only the server finds broken: rolled back, still serving
    shutil.copytree(broken, d.root / "models/half_plus_two/126")
    d.write([_hpt(tfs_models, versions={**both, 126: ""}, policy={"specific": [123, 124, 126]},
                  labels={"stable": 124}), adder])
    failed = d.apply(check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "126 failed to load" in failed.stderr and "restored" in failed.stderr
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0], "/labels/stable") == HPT
    shutil.rmtree(d.root / "models/half_plus_two/126")

    # 5c. a failing smoke request rolls back too
    d.spec_file.write_text(good_spec)
    wrong = _hpt(tfs_models, versions=both, policy={"specific": [123, 124]},
                 labels={"stable": 124})
    wrong["smoke"][0]["expect"] = {"predictions": [0.0, 0.0, 0.0]}
    wrong["policy"] = {"specific": [124]}
    d.write([wrong, adder])
    failed = d.apply(check=False)
    assert failed.returncode == 1 and "smoke" in failed.stderr
    assert d.available("half_plus_two") == {"123", "124"}

    # 4. a port change replaces (docker) / restarts (local) the server
    d.spec_file.write_text(good_spec)
    assert d.plan_exit_code() == 0
    d.rest = free_port()
    d.write([_hpt(tfs_models, versions=both, policy={"specific": [123, 124]},
                  labels={"stable": 124}), adder])
    assert d.plan_exit_code() == 2
    d.apply()
    assert d.server_identity() != identity
    assert d.predict("half_plus_two", [1.0, 2.0, 5.0]) == HPT
    assert d.plan_exit_code() == 0

    # 7. rollback returns to the previous successful spec; destroy keeps the model dir
    rolled = d.tfsctl("rollback", "-f", str(d.spec_file), "--auto-approve", check=True)
    assert "rollback" in (rolled.stdout + rolled.stderr).lower()
    history = d.tfsctl("history", "-f", str(d.spec_file), check=True)
    assert "success" in history.stdout
    d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve", check=True)
    assert (d.root / "models/half_plus_two/123/saved_model.pb").exists()
    assert (d.root / "models/linear/1/saved_model.pb").exists()
