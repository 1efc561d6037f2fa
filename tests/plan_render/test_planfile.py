"""Saved plans: what apply reads back must be what plan wrote, or a clear error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.plan_render.builders import SCENARIOS
from tfsctl import __version__
from tfsctl.errors import TfsctlError
from tfsctl.planfile import load_plan, save_plan

SPEC = "servers:\n  - name: default  # ünïcode kept exactly\n"


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "plans" / "plan.json"
    save_plan(path, SCENARIOS["reload"], spec_text=SPEC, spec_file=tmp_path / "tfsctl.yaml")
    return path


def _rewrite(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_round_trip(saved: Path) -> None:
    loaded = load_plan(saved)
    assert loaded.plan == SCENARIOS["reload"]
    assert loaded.spec_text == SPEC
    assert loaded.spec_file == saved.parent.parent / "tfsctl.yaml"
    assert loaded.spec_sha256 == hashlib.sha256(SPEC.encode()).hexdigest()
    assert loaded.live_fingerprint == SCENARIOS["reload"].live_fingerprint
    assert loaded.tfsctl_version == __version__
    assert loaded.created_at.endswith("+00:00")


def test_written_atomically_over_an_old_plan(saved: Path) -> None:
    save_plan(saved, SCENARIOS["no_changes"], spec_text="other", spec_file=Path("b.yaml"))
    assert load_plan(saved).plan == SCENARIOS["no_changes"]
    assert [p.name for p in saved.parent.iterdir()] == ["plan.json"]  # no temp file left


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TfsctlError, match="does not exist") as info:
        load_plan(tmp_path / "nope.json")
    assert "tfsctl plan --out" in info.value.hint


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot be read as JSON"),
    ("[1, 2]", "is not a tfsctl plan file"),
    ('{"kind": "something-else"}', "is not a tfsctl plan file"),
])
def test_not_a_plan_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(TfsctlError, match=message):
        load_plan(path)


def test_other_format_version(saved: Path) -> None:
    _rewrite(saved, format_version=99, tfsctl_version="9.0.0")
    with pytest.raises(TfsctlError, match=r"format version 99 \(written by tfsctl 9.0.0\)"):
        load_plan(saved)


def test_edited_spec_text_is_detected(saved: Path) -> None:
    _rewrite(saved, spec_text=SPEC + "# sneaky\n")
    with pytest.raises(TfsctlError, match="does not match its sha256"):
        load_plan(saved)


def test_mismatched_fingerprint_is_detected(saved: Path) -> None:
    _rewrite(saved, live_fingerprint="0" * 16)
    with pytest.raises(TfsctlError, match="live fingerprint"):
        load_plan(saved)


def test_missing_key(saved: Path) -> None:
    data = json.loads(saved.read_text())
    del data["created_at"]
    saved.write_text(json.dumps(data))
    with pytest.raises(TfsctlError, match="incomplete: no 'created_at'"):
        load_plan(saved)


def test_malformed_plan_names_the_file(saved: Path) -> None:
    data = json.loads(saved.read_text())
    data["plan"]["servers"][0]["action"] = "explode"
    saved.write_text(json.dumps(data))
    with pytest.raises(TfsctlError, match=f"plan file {saved}: the plan data is malformed"):
        load_plan(saved)


def _checkout(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "deploy").mkdir()
    (root / "deploy" / "tfsctl.yaml").write_text(SPEC)
    return root


def test_paths_under_the_anchor_resolve_in_the_checkout_applied_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PR job's checkout plans; the merge job's, elsewhere, applies: no path of the first
    survives into what the second runs."""
    import dataclasses

    first, second = _checkout(tmp_path / "pr"), _checkout(tmp_path / "merge")
    plan = SCENARIOS["reload"]
    inside = dataclasses.replace(plan, anchor=str(first), servers=tuple(
        dataclasses.replace(s, versions=tuple(dataclasses.replace(
            v, target=str(first / "models" / v.model / str(v.version))) for v in s.versions))
        for s in plan.servers))
    path = tmp_path / "plan.json"
    save_plan(path, inside, spec_text=SPEC, spec_file=first / "deploy" / "tfsctl.yaml")
    steps = json.dumps(json.loads(path.read_text())["plan"])
    assert str(first) not in steps and "$ANCHOR/models/" in steps, "no host path of the PR job"
    monkeypatch.chdir(second / "deploy")
    loaded = load_plan(path)
    assert loaded.anchor == second and loaded.spec_file == second / "deploy" / "tfsctl.yaml"
    targets = [v.target for s in loaded.plan.servers for v in s.versions]
    assert targets and all(t.startswith(f"{second}/models/") for t in targets), targets
    assert loaded.notes == [f"applying in {second} (the plan was made in {first})"]
    (second / "deploy" / "tfsctl.yaml").write_text(SPEC + "# edited after planning\n")
    assert "changed since the plan was made" in loaded.notes[-1]


def test_chdir_names_the_checkout(tmp_path: Path) -> None:
    first, second = _checkout(tmp_path / "pr"), _checkout(tmp_path / "merge")
    path = tmp_path / "plan.json"
    save_plan(path, SCENARIOS["reload"], spec_text=SPEC, spec_file=first / "deploy" / "tfsctl.yaml")
    assert load_plan(path, chdir=second / "deploy").anchor == second


def test_a_denied_plan_is_never_written(tmp_path: Path) -> None:
    import dataclasses

    from tfsctl.plan.model import PolicyFinding, PolicyLevel

    denied = dataclasses.replace(SCENARIOS["reload"], policy=(
        PolicyFinding(PolicyLevel.DENY, "deny_destroy_in_prod", "no destroy in prod"),))
    with pytest.raises(TfsctlError, match=r"not saving the plan: policy denied "
                                          r"\[deny_destroy_in_prod\]"):
        save_plan(tmp_path / "p.json", denied, spec_text=SPEC, spec_file=tmp_path / "t.yaml")
    assert not (tmp_path / "p.json").exists()


def test_a_denied_plan_file_is_refused(saved: Path) -> None:
    """A verdict written into the file by hand (or by an older tfsctl) still refuses."""
    data = json.loads(saved.read_text())
    data["plan"]["policy"] = [{"level": "deny", "rule": "deny_x", "message": "no"}]
    saved.write_text(json.dumps(data))
    with pytest.raises(TfsctlError, match=r"denied by policy \[deny_x\]: no; a denied plan is "
                                          "never applied"):
        load_plan(saved)


def test_a_real_plan_names_no_path_of_the_checkout_it_was_made_in(tmp_path: Path) -> None:
    """Every host path of a planned local server (its flags, model root, exports, state dir)
    is anchored, down to the flags inside the desired runtime."""
    from tests.unit.plan_fixtures import live_state
    from tfsctl.plan.diff import build_plan
    from tfsctl.spec.load import load_spec

    first = _checkout(tmp_path / "pr")
    spec_file = first / "deploy" / "tfsctl.yaml"
    spec_file.write_text("apiVersion: tfsctl/v1\nservers:\n  - name: s\n    runtime: local\n"
                         "    model_root: ../models\n    models:\n      - name: m\n"
                         "        versions: {1: {source: {saved_model: ../src}}}\n")
    loaded = load_spec(spec_file)
    plan = build_plan(loaded, live_state(loaded.spec, {}, {}), sources={}, secrets={})
    assert any(str(first) in arg for e in plan.execution for arg in e.desired_runtime.args)
    path = tmp_path / "plan.json"
    save_plan(path, plan, spec_text=spec_file.read_text(), spec_file=spec_file)
    assert str(first) not in json.dumps(json.loads(path.read_text())["plan"])
    second = tmp_path / "merge"
    import shutil

    shutil.copytree(first, second)
    loaded_plan = load_plan(path, chdir=second).plan
    args = loaded_plan.execution[0].desired_runtime.args
    assert any(arg.endswith(f"{second}/models/model.config") for arg in args), args
