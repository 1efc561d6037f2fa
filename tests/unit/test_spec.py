"""The desired-state file: loading, errors a reviewer can act on, variables, policies."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tfsctl.runtimes.registry import runtime_checks
from tfsctl.spec.errors import SpecError
from tfsctl.spec.load import load_spec
from tfsctl.spec.model_spec import AllPolicy, LatestPolicy, SpecificPolicy

BAD = Path(__file__).parent / "bad_specs"
EXPECT = re.compile(r"^# expect: (\d+):(\d+) (.+?) \| (.+)$")


def _write(tmp_path: Path, text: str, name: str = "tfsctl.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("spec_file", sorted(BAD.glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_spec_reports_file_line_and_fix(spec_file: Path) -> None:
    line, column, message, hint = EXPECT.match(spec_file.read_text().splitlines()[0]).groups()
    with pytest.raises(SpecError) as caught:
        load_spec(spec_file, checks=runtime_checks)  # as every command loads a spec
    issue = caught.value.issues[0]
    assert (issue.location.file, issue.location.line, issue.location.column) == (
        spec_file, int(line), int(column)), caught.value.format()
    assert message in issue.message
    assert hint in issue.hint
    text = caught.value.format()
    assert text.startswith(f"{spec_file}:{line}:{column}: error: ")
    assert "Traceback" not in text


def test_all_errors_are_reported_in_one_run(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
servers:
  - name: a
    polcy: x
    models:
      - name: m
        policy: {latest: 0}
      - name: ok
        versions: {x: {}}
""")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert [i.location.line for i in caught.value.issues] == [4, 7, 9]


def test_zero_padded_versions_and_yaml12_scalars(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
servers:
  - name: default
    env: {FLAG: no, COUNT: "08"}
    models:
      - name: m
        policy: all
        versions:
          00000123:
          124: {}
        labels: {stable: 00000123}
""")
    server = load_spec(spec).spec.servers[0]
    assert set(server.models[0].versions) == {123, 124}
    assert server.models[0].labels == {"stable": 123}
    assert server.env == {"FLAG": "no", "COUNT": "08"}


def test_policies(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
servers:
  - name: default
    models:
      - {name: a, policy: all}
      - {name: b, policy: {latest: 2}}
      - {name: c, policy: {specific: [2, 1]}, versions: {1: {}, 2: {}}}
      - {name: d}
""")
    a, b, c, d = load_spec(spec).spec.servers[0].models
    assert isinstance(a.policy, AllPolicy)
    assert b.policy == LatestPolicy(latest=2)
    assert c.policy == SpecificPolicy(specific=[1, 2])
    assert d.policy == LatestPolicy(latest=1)  # TF Serving's default
    assert a.policy.select([3, 1, 2]) == {1, 2, 3}
    assert b.policy.select([3, 1, 2]) == {2, 3}


def test_environments_and_var_overrides(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
variables: {tag: "2.18.0", rest: 8501}
environments:
  prod: {variables: {tag: "2.19.1", rest: 9501}}
servers:
  - name: default
    image: "tensorflow/serving:{{ tag }}"
    ports: {rest: "{{ rest }}"}
""")
    assert load_spec(spec).spec.servers[0].runtime_options.image == "tensorflow/serving:2.18.0"
    prod = load_spec(spec, environment="prod").spec.servers[0]
    assert (prod.runtime_options.image, prod.ports.rest) == ("tensorflow/serving:2.19.1", 9501)
    assert load_spec(spec, overrides={"tag": "x"}).spec.servers[0].runtime_options.image == \
        "tensorflow/serving:x"
    with pytest.raises(SpecError, match="environment 'staging' is not defined"):
        load_spec(spec, environment="staging")


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
servers:
  - name: "{{ ''.__class__.__mro__[1].__subclasses__() }}"
""")
    with pytest.raises(SpecError):
        load_spec(spec)


def test_paths_resolve_against_the_spec_file(tmp_path: Path) -> None:
    spec = _write(tmp_path, """\
apiVersion: tfsctl/v1
servers:
  - name: default
    model_root: ./models
    models:
      - name: m
        versions:
          1: {source: {saved_model: ../exports/m/1}}
""")
    server = load_spec(spec).spec.servers[0]
    assert server.model_root == tmp_path / "models"
    assert server.base_path(server.models[0]) == tmp_path / "models" / "m"
    assert server.models[0].versions[1].source.saved_model == tmp_path.parent / "exports/m/1"
    assert server.resolved_state_dir == tmp_path / "models" / ".tfsctl"


def test_non_utf8_is_an_error_with_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"apiVersion: tfsctl/v1\nservers:\n  - name: \xff\xfe\n")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    issue = caught.value.issues[0]
    assert (issue.location.line, issue.location.column) == (3, 11)
    assert "UTF-8" in issue.message


def test_unknown_tags_are_refused(tmp_path: Path) -> None:
    spec = _write(tmp_path, "apiVersion: tfsctl/v1\nservers: !!python/object:os.system {}\n")
    with pytest.raises(SpecError, match="tag"):
        load_spec(spec)


def test_validate_and_plan_modules_do_not_import_tensorflow() -> None:
    code = ("import sys; import tfsctl.cli.main, tfsctl.cli.spec_commands, tfsctl.plan.diff, "
            "tfsctl.spec.load; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
