"""`tfsctl validate | schema | render | import` as a user runs them (subprocess: real exit codes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format

from tests.support.paths import REPO
from tfsctl.protos import model_server_config_pb2
from tfsctl.serverconfig.model_config import ModelConfigError, from_proto, parse_text

EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def tfsctl(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "NO_COLOR": "1", **(env or {})},
                          timeout=60)


def test_every_example_validates() -> None:
    assert len(EXAMPLES) >= 2
    result = tfsctl("validate", *map(str, EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok  ") == len(EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_render_output_parses_with_the_official_proto(example: Path) -> None:
    result = tfsctl("render", "-f", str(example))
    assert result.returncode == 0, result.stderr
    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(result.stdout, config)  # raises if TF Serving could not read it
    assert len(config.model_config_list.config) >= 1
    assert all(c.base_path and c.model_platform == "tensorflow"
               for c in config.model_config_list.config)


def test_broken_spec_exits_1_with_location_and_no_traceback() -> None:
    bad = REPO / "tests/unit/bad_specs/typo_key.yaml"
    result = tfsctl("validate", str(bad), *map(str, EXAMPLES))
    assert result.returncode == 1
    assert f"{bad}:7:9: error: unknown key 'polcy'" in result.stderr
    assert "fix: did you mean `policy`?" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "\x1b[" not in result.stderr  # NO_COLOR honoured


def test_usage_errors_exit_1_not_2() -> None:
    """2 means "changes present" for plan --detailed-exitcode; usage errors must not look like it."""
    assert tfsctl("validate").returncode == 1
    assert tfsctl("no-such-command").returncode == 1


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    result = tfsctl("render", "-f", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read the spec" in result.stderr and "Traceback" not in result.stderr


def test_help_teaches() -> None:
    result = tfsctl("--help")
    assert result.returncode == 0
    for word in ("validate", "plan", "apply", "Exit codes"):
        assert word in result.stdout
    for command in ("validate", "render", "import", "schema"):
        sub = tfsctl(command, "--help")
        assert sub.returncode == 0 and "Usage:" in sub.stdout


def test_committed_schema_is_current() -> None:
    result = tfsctl("schema", "--check")
    assert result.returncode == 0, result.stderr + " (run `tfsctl schema` and commit)"


def test_import_then_render_round_trips_tf_servings_config(tfs_testdata: Path, tmp_path: Path
                                                           ) -> None:
    env = {"TEST_HALF_PLUS_TWO_DIR": str(tfs_testdata / "saved_model_half_plus_two_cpu"),
           "TEST_HALF_PLUS_THREE_DIR": str(tfs_testdata / "saved_model_half_plus_three")}
    original = (tfs_testdata / "good_model_config.txt").read_text()
    spec = tmp_path / "imported.yaml"
    imported = tfsctl("import", str(tfs_testdata / "good_model_config.txt"), "-o", str(spec),
                      env=env)
    assert imported.returncode == 0, imported.stderr
    assert tfsctl("validate", str(spec)).returncode == 0
    rendered = tfsctl("render", "-f", str(spec))
    assert rendered.returncode == 0, rendered.stderr
    expanded = original
    for name, value in env.items():
        expanded = expanded.replace("${" + name + "}", value)
    assert parse_text(rendered.stdout) == parse_text(expanded)


def test_import_round_trips_policies_and_labels(tmp_path: Path) -> None:
    config = model_server_config_pb2.ModelServerConfig()
    for name, policy in (("a", "all"), ("b", "latest"), ("c", "specific")):
        block = config.model_config_list.config.add(name=name, base_path=f"/models/{name}",
                                                    model_platform="tensorflow")
        if policy == "all":
            block.model_version_policy.all.SetInParent()
        elif policy == "latest":
            block.model_version_policy.latest.num_versions = 3
        else:
            block.model_version_policy.specific.versions.extend([4, 7])
            block.version_labels["stable"] = 4
            block.version_labels["canary"] = 7
    source = tmp_path / "model.config"
    source.write_text(text_format.MessageToString(config))
    spec = tmp_path / "spec.yaml"
    result = tfsctl("import", str(source), "--runtime", "docker", "--model-root", "srv",
                    "-o", str(spec))
    assert result.returncode == 0, result.stderr
    rendered = tfsctl("render", "-f", str(spec))
    assert rendered.returncode == 0, rendered.stderr
    assert parse_text(rendered.stdout) == from_proto(config)


def test_import_unset_variable_is_an_error(tfs_testdata: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEST_HALF")}
    result = subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "import",
                             str(tfs_testdata / "good_model_config.txt")],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "TEST_HALF_PLUS_TWO_DIR" in result.stderr


@pytest.mark.parametrize("text", [
    '# a comment first\ncustom_model_config { [type.googleapis.com/tensorflow.serving.ModelConfigList] '
    '{ config { name: "a" } } }',
    'custom_model_config { type_url: "type.googleapis.com/example.Thing" value: "abc" }',
])
def test_custom_model_config_is_refused_as_unsupported(text: str) -> None:
    """Whatever its payload's type (one no descriptor pool here knows, or raw bytes)."""
    with pytest.raises(ModelConfigError, match="custom_model_config is not supported"):
        parse_text(text)


def test_logging_config_in_model_config_still_parses() -> None:
    entries = parse_text('model_config_list { config { name: "a" base_path: "/m/a" '
                         'logging_config { sampling_config { sampling_rate: 0.5 } } } }')
    assert [(e.name, e.base_path) for e in entries] == [("a", "/m/a")]
