"""The CI examples (examples/ci): valid for their CI, shell and Python that parse, real options.

The schemas are the ones check-jsonschema ships (GitHub's workflow schema and GitLab's
CI schema from SchemaStore), so this runs offline.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

GITHUB = REPO / "examples/ci/github-actions.yml"
GITLAB = REPO / "examples/ci/gitlab-ci.yml"
HEREDOC = re.compile(r"<<'EOF'\n(.*?)\nEOF\n", re.DOTALL)


@pytest.mark.parametrize(("workflow", "schema"), [(GITHUB, "vendor.github-workflows"),
                                                  (GITLAB, "vendor.gitlab-ci")])
def test_workflow_validates_against_its_published_schema(workflow: Path, schema: str) -> None:
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                             str(workflow)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "workflow.yml"
    broken.write_text("on: push\njobs:\n  plan:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.github-workflows", str(broken)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1


def scripts() -> Iterator[tuple[str, str]]:
    """Every shell script of both files, named `file:job[:step]`."""
    github = yaml.safe_load(GITHUB.read_text())
    for name, job in github["jobs"].items():
        for step in job["steps"]:
            if "run" in step:
                yield f"github:{name}:{step.get('name', '')}", step["run"]
    gitlab = yaml.safe_load(GITLAB.read_text())
    for name, job in gitlab.items():
        if isinstance(job, dict) and "script" in job:
            yield f"gitlab:{name}", "\n".join(job.get("before_script", []) + job["script"])


SCRIPTS = dict(scripts())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_shell_script_parses_and_its_python_compiles(name: str) -> None:
    script = SCRIPTS[name]
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    for snippet in HEREDOC.findall(script + "\n"):
        ast.parse(snippet)


def _tfsctl_commands() -> Iterator[list[str]]:
    for script in SCRIPTS.values():
        for line in script.replace("\\\n", " ").splitlines():
            if line.strip().startswith("tfsctl "):
                yield shlex.split(line.split(">")[0])


def test_every_tfsctl_option_used_exists() -> None:
    commands = list(_tfsctl_commands())
    used = {(words[1], w.split("=")[0]) for words in commands for w in words if w.startswith("--")}
    assert {c for c, _ in used} >= {"plan", "apply", "status"}
    for command in {c for c, _ in used}:
        help_text = subprocess.run([sys.executable, "-m", "tfsctl.cli.main", command, "--help"],
                                   capture_output=True, text=True, timeout=60,
                                   env={"PYTHONPATH": str(REPO), "NO_COLOR": "1",
                                        "COLUMNS": "200"}).stdout
        missing = sorted(o for c, o in used if c == command and o not in help_text)
        assert not missing, f"tfsctl {command} has no {missing}"
