"""The control plane without TensorFlow: no TensorFlow import, `--version`, and a clear
refusal before any change when a plan needs TensorFlow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support.cli import invoke
from tests.support.imports import modules_after
from tfsctl import __version__, tfenv

#: Every module plan, apply, status, destroy, rollback and the guardian run.
CONTROL_PLANE = ("tfsctl.cli.main", "tfsctl.cli.apply_commands", "tfsctl.cli.plan_command",
                 "tfsctl.cli.status_command", "tfsctl.cli.spec_commands", "tfsctl.apply.run",
                 "tfsctl.apply.context", "tfsctl.apply.guardian", "tfsctl.apply.server_client",
                 "tfsctl.runtimes.docker", "tfsctl.runtimes.local", "tfsctl.live.observe",
                 "tfsctl.importer")


def test_control_plane_imports_no_tensorflow() -> None:
    _, loaded = modules_after("\n".join(f"import {m}" for m in CONTROL_PLANE),
                              packages=("tensorflow", "tensorflow_serving", "keras"))
    assert loaded == []


def test_version_imports_no_command() -> None:
    printed, loaded = modules_after(
        "from tfsctl.cli.main import run\nrun(['--version'])",
        packages=("pydantic", "grpc", "docker", "jinja2"),
        prefixes=("tfsctl.spec.load", "tfsctl.plan", "tfsctl.apply"))
    assert (printed, loaded) == (f"tfsctl, version {__version__}", [])


def test_the_guardian_waits_without_the_runtimes() -> None:
    """The guardian runs beside every apply: until it must undo one, it imports no runtime,
    client or spec model (their start-up would compete with the apply for the cores)."""
    _, loaded = modules_after("import tfsctl.apply.guardian",
                              packages=("pydantic", "grpc", "docker", "requests"),
                              prefixes=("tfsctl.runtimes", "tfsctl.spec", "tfsctl.apply.recovery"))
    assert loaded == []


@pytest.mark.parametrize("value, imported", [("plain", False), ("{{ 'templated' }}", True)])
def test_jinja2_is_imported_for_templates_only(value: str, imported: bool, tmp_path: Path) -> None:
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [{
        "name": "light", "runtime": "docker", "image": value, "model_root": str(tmp_path),
        "ports": {"grpc": 1, "rest": 2}, "models": [{"name": "hpt"}]}]}))
    printed, loaded = modules_after(
        f"from tfsctl.spec.load import load_spec\nprint(load_spec({str(spec)!r}).spec.servers[0]"
        ".runtime_options.image)",
        packages=("jinja2",))
    assert (printed, "jinja2" in loaded) == (value.strip("{ '}"), imported)


def _spec(tmp_path: Path, model_root: Path, version: dict[str, object]) -> Path:
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [{
        "name": "light", "runtime": "local", "model_root": str(model_root),
        "ports": {"grpc": 1, "rest": 2},
        "models": [{"name": "hpt", "policy": {"specific": [123]}, "versions": {123: version}}]}]}))
    return spec


@pytest.mark.parametrize("case", ["export", "local server"])
def test_a_plan_needing_tensorflow_is_refused_before_any_change(
        case: str, tmp_path: Path, tfs_testdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tfenv, "tensorflow_installed", lambda: False)
    source = tfs_testdata / "saved_model_half_plus_two_cpu" / "00000123"
    model_root = tmp_path / "models"
    if case == "export":
        spec = _spec(tmp_path, model_root, {"source": {"saved_model": str(source)}})
        expected = "exporting hpt/123 needs TensorFlow"
    else:
        shutil.copytree(source, model_root / "hpt" / "123")
        spec = _spec(tmp_path, model_root, {})
        expected = "starting local server 'light' (tfsctl serve) needs TensorFlow"
    before = _files(tmp_path)
    result = invoke("apply", "-f", str(spec), "--auto-approve")
    assert result.code == 1, result
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert errors == [f'error: {expected}, which is not installed: pip install "tfsctl[tf]"'], result
    assert "fix:" not in result.err
    assert _files(tmp_path) == before


def _files(root: Path) -> list[Path]:
    """Every file under root but apply's state dir (which holds its lock, taken before planning)."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".tfsctl" not in p.parts)
