"""Corrupt sources: SavedModels and TF1 checkpoints that cannot become a version.

Each ends in `tfsctl apply` exiting 1 with a message that names the version,
no traceback, and no version dir (or half-built one) left where a server
would see it; the server that served before keeps serving.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Deployment, make_checkpoint
from tests.e2e.test_faults import MODEL, _assert_no_partial_version, _model, _serving
from tests.reliability.tally import Tally

pytestmark = pytest.mark.slow


def _saved_model(root: Path) -> Path:
    target = root / "saved_model"
    shutil.copytree(MODEL, target)
    return target


def _truncated_pb(root: Path) -> dict:
    path = _saved_model(root)
    data = (path / "saved_model.pb").read_bytes()
    (path / "saved_model.pb").write_bytes(data[: len(data) // 3])
    return {"saved_model": str(path)}


def _random_pb(root: Path) -> dict:
    path = _saved_model(root)
    (path / "saved_model.pb").write_bytes(bytes(range(256)) * 40)
    return {"saved_model": str(path)}


def _no_variables(root: Path) -> dict:
    path = _saved_model(root)
    shutil.rmtree(path / "variables")
    return {"saved_model": str(path)}


def _empty_dir(root: Path) -> dict:
    (root / "empty").mkdir()
    return {"saved_model": str(root / "empty")}


def _checkpoint(root: Path, damage: Callable[[Path], None], inputs: str = "x:0") -> dict:
    prefix = make_checkpoint(root / "ckpt", 0.5, 2.0)
    damage(prefix)
    return {"checkpoint": str(prefix), "inputs": {"x": inputs}, "outputs": {"y": "y:0"}}


def _truncate(path: Path) -> None:
    """Cut to half (the data file of this tiny checkpoint is only 8 bytes)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES: dict[str, Callable[[Path], dict]] = {
    "saved_model.pb truncated": _truncated_pb,
    "saved_model.pb random bytes": _random_pb,
    "variables/ missing": _no_variables,
    "empty directory": _empty_dir,
    "checkpoint index truncated": lambda r: _checkpoint(
        r, lambda p: _truncate(p.with_name(p.name + ".index"))),
    "checkpoint data truncated": lambda r: _checkpoint(
        r, lambda p: _truncate(next(p.parent.glob(p.name + ".data-*")))),
    "checkpoint meta graph truncated": lambda r: _checkpoint(
        r, lambda p: _truncate(p.with_name(p.name + ".meta"))),
    "checkpoint tensor name wrong": lambda r: _checkpoint(r, lambda p: None, inputs="nope:0"),
}


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """One local server serving version 1, shared by the cases (each leaves it as it was)."""
    d = Deployment(root=tmp_path_factory.mktemp("corrupt") / "project", runtime="local")
    d.root.mkdir()
    d.write([_model([1], 1)])
    d.apply()
    yield d
    d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_source_fails_cleanly(case: str, serving: Deployment, tmp_path: Path,
                                        tally: Tally) -> None:
    d = serving
    model = _model([1, 2], 1)
    model["versions"][2] = {"source": CASES[case](tmp_path)}
    d.write([model])
    try:
        result = d.apply(check=False)
        left = sorted(p.name for p in (d.root / "models" / "hpt").iterdir() if p.name != "1")
    finally:  # whatever happened, the next case starts from version 1 alone
        shutil.rmtree(d.root / "models" / "hpt" / "2", ignore_errors=True)
        d.write([_model([1], 1)])
        d.apply(check=False)
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert "hpt/2" in output or "version 2" in output, output
    assert left in ([], [".tfsctl"]), f"left beside version 1 by the failed apply: {left}"
    _assert_no_partial_version(d, case)
    assert _serving(d), "the version served before is still served"
    assert d.plan_exit_code() == 0
    tally.add("corrupt model sources")
