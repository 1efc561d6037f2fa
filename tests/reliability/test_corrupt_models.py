"""Corrupt sources: SavedModels and TF1 checkpoints that cannot become a version.

Each ends in `tfsctl apply` exiting 1 with a message that names the version,
no traceback, and no version dir (or half-built one) left where a server
would see it; the server that served before keeps serving.

Corrupt version dirs already in the model root (no saved_model.pb, an index
without its shards, a leftover export temp dir, a file where a dir belongs) are
found by `tfsctl plan` alone, without TensorFlow: each is a plan error (exit 1)
naming the version dir, or for a leftover temp dir a warning that apply removes it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.tally import Tally
from tests.support.cli import assert_clean_outcome, invoke
from tests.support.deployment import HALF_PLUS_TWO, Deployment, hpt_model, make_checkpoint
from tests.support.sandbox import base_spec, dump, sandbox


def _saved_model(root: Path) -> Path:
    target = root / "saved_model"
    shutil.copytree(HALF_PLUS_TWO, target)
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
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One local server serving version 1, shared by the cases (each leaves it as it was)."""
    d = Deployment(root=tmp_path_factory.mktemp("corrupt") / "project", runtime="local")
    d.root.mkdir()
    d.write([hpt_model([1], 1)])
    d.apply()
    yield d
    d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_source_fails_cleanly(case: str, serving: Deployment, tmp_path: Path,
                                        tally: Tally) -> None:
    d = serving
    model = hpt_model([1, 2], 1)
    model["versions"][2] = {"source": CASES[case](tmp_path)}
    d.write([model])
    try:
        result = d.apply(check=False)
        left = sorted(p.name for p in (d.root / "models" / "hpt").iterdir() if p.name != "1")
    finally:  # whatever happened, the next case starts from version 1 alone
        shutil.rmtree(d.root / "models" / "hpt" / "2", ignore_errors=True)
        d.write([hpt_model([1], 1)])
        d.apply(check=False)
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert "hpt/2" in output or "version 2" in output, output
    assert left in ([], [".tfsctl"]), f"left beside version 1 by the failed apply: {left}"
    d.assert_no_partial_version(case)
    assert d.answers_version_1(), "the version served before is still served"
    assert d.plan_exit_code() == 0
    tally.add("corrupt model sources")


def _copy_version(target: Path) -> Path:
    shutil.copytree(HALF_PLUS_TWO, target)
    return target


def _no_pb(version: Path) -> None:
    (version / "saved_model.pb").unlink()


def _index_without_shards(version: Path) -> None:
    """variables.index names a data shard that is not there."""
    for shard in (version / "variables").glob("variables.data-*"):
        shard.unlink()


def _no_index(version: Path) -> None:
    (version / "variables" / "variables.index").unlink()


def _file_not_dir(version: Path) -> None:
    shutil.rmtree(version)
    version.write_bytes(b"not a directory")


def _empty(version: Path) -> None:
    shutil.rmtree(version)
    version.mkdir()


#: damage -> what plan must say about version 1 ("" when only the exit code matters)
BROKEN_VERSION_DIRS: dict[str, tuple[Callable[[Path], None], str]] = {
    "saved_model.pb missing": (_no_pb, "no saved_model.pb"),
    "variables.index missing": (_no_index, "no variables.index"),
    "empty version dir": (_empty, "no saved_model.pb"),
    "a file named 1": (_file_not_dir, "not on disk"),
    "index without its shards": (_index_without_shards, ""),
}


@pytest.mark.parametrize("case", sorted(BROKEN_VERSION_DIRS))
def test_a_corrupt_version_dir_is_a_plan_error(case: str, tally: Tally) -> None:
    """A broken version 1 in the root (no source to re-export from) makes plan exit 1 and
    say which dir; apply refuses without touching it."""
    damage, expected = BROKEN_VERSION_DIRS[case]
    with sandbox(with_version=False) as box:
        version = _copy_version(box.project / "models" / "m" / "1")
        damage(version)
        spec = base_spec()
        model = spec["servers"][0]["models"][0]
        model.update(policy={"specific": [1]}, versions={1: {}}, smoke=[])
        box.spec_file.write_bytes(dump(spec))
        plan = invoke("plan", "-f", str(box.spec_file))
        assert_clean_outcome(plan, box.spec_file)
        if expected:
            assert plan.code == 1 and expected in plan.out and "m/1" in plan.out, str(plan)
            apply = invoke("apply", "-f", str(box.spec_file), "--auto-approve")
            assert_clean_outcome(apply, box.spec_file)
            assert apply.code == 1 and "nothing was changed" in apply.err, str(apply)
        else:
            # plan opens no shards (it stays fast and TensorFlow-free): the version looks
            # complete, and the server's load of it is what apply waits for and rolls back
            assert plan.code == 0, str(plan)
    tally.add("corrupt models")


def test_a_leftover_export_temp_dir_is_shown_and_never_a_version(tally: Tally) -> None:
    """A `.tfsctl-tmp-*` dir (an export killed half-way) is a warning, never counted as a version."""
    with sandbox() as box:
        leftover = box.project / "models" / "m" / ".tfsctl-tmp-2-abc"
        _copy_version(leftover / "model")
        spec = base_spec()
        spec["servers"][0]["models"][0].update(policy={"specific": [1]}, versions={1: {}}, smoke=[])
        box.spec_file.write_bytes(dump(spec))
        plan = invoke("plan", "-f", str(box.spec_file), "--json")
        assert_clean_outcome(plan, box.spec_file)
        assert "interrupted-export" in plan.out and '"version": 2' not in plan.out, str(plan)
    tally.add("corrupt models")


@pytest.mark.slow
@pytest.mark.parametrize("inputs, outputs", [("x", "y"), ("x:0", "y"), ("x", "y:0")])
def test_an_operation_name_means_its_first_output(inputs: str, outputs: str, tmp_path: Path) -> None:
    """The classic tutorial names placeholders (`inputs: {x: "x"}`): the operation `x`
    stands for its first output `x:0`, which the exported signature uses."""
    from tfsctl.export.exporters import export_version
    from tfsctl.spec.sources import CheckpointSource

    prefix = make_checkpoint(tmp_path / "ckpt", 0.5, 2.0)
    source = CheckpointSource(checkpoint=prefix, inputs={"x": inputs}, outputs={"y": outputs})
    result = export_version(source, tmp_path / "m" / "1")
    assert result.signatures == ("serving_default",)
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "m" / "1" / "saved_model.pb")
                                                  .read_bytes())
    signature = saved.meta_graphs[0].signature_def["serving_default"]
    assert (signature.inputs["x"].name, signature.outputs["y"].name) == ("x:0", "y:0")


@pytest.mark.slow
def test_an_unknown_operation_name_suggests_similar_ones(tmp_path: Path) -> None:
    from tfsctl.export.exporters import ExportError, export_version
    from tfsctl.spec.sources import CheckpointSource

    prefix = make_checkpoint(tmp_path / "ckpt", 0.5, 2.0)
    source = CheckpointSource(checkpoint=prefix, inputs={"x": "X"}, outputs={"y": "y"})
    with pytest.raises(ExportError) as caught:
        export_version(source, tmp_path / "m" / "1")
    assert "no input tensor 'X'" in caught.value.message and "'x'" in caught.value.hint
    assert not (tmp_path / "m" / "1").exists()
