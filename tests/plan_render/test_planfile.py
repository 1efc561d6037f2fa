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
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "plans" / "plan.json"
    save_plan(path, SCENARIOS["reload"], spec_text=SPEC, spec_file="tfsctl.yaml")
    return path


def _rewrite(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_round_trip(saved: Path) -> None:
    loaded = load_plan(saved)
    assert loaded.plan == SCENARIOS["reload"]
    assert loaded.spec_text == SPEC
    assert loaded.spec_file == "tfsctl.yaml"
    assert loaded.spec_sha256 == hashlib.sha256(SPEC.encode()).hexdigest()
    assert loaded.live_fingerprint == SCENARIOS["reload"].live_fingerprint
    assert loaded.tfsctl_version == __version__
    assert loaded.created_at.endswith("+00:00")


def test_written_atomically_over_an_old_plan(saved: Path) -> None:
    save_plan(saved, SCENARIOS["no_changes"], spec_text="other", spec_file="b.yaml")
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
