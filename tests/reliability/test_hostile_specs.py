"""Hostile and broken spec files, generated with hypothesis, through the real CLI.

Every input must end in exit 0 (valid), 1 (a clear error naming the file) or 2
(`plan --detailed-exitcode`: changes), never a traceback, never tfsctl's
"internal error" last line of defence, never a hang (hypothesis' deadline),
and never a file written outside the project directory. `validate` and
`plan` run in-process (`tfsctl.cli.main.run`) so that hundreds of inputs take
seconds.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.tally import TALLY
from tfsctl.cli.main import run

SETTINGS = settings(max_examples=400, deadline=10_000, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

BASE: dict[str, Any] = {
    "apiVersion": "tfsctl/v1",
    "variables": {"port": 18511},
    "servers": [{
        "name": "s", "runtime": "local", "model_root": "models",
        "ports": {"grpc": 18510, "rest": "{{ port }}"},
        "batching": {"max_batch_size": 8},
        "env": {"A": "b"},
        "models": [{
            "name": "m", "policy": {"specific": [1, 2]},
            "versions": {1: {}, 2: {"source": {"saved_model": "src/m/2"}}},
            "labels": {"stable": 1},
            "smoke": [{"request": {"instances": [1.0]}, "expect": {"predictions": [2.5]}}],
        }],
    }],
}

#: Path-like values aimed at leaving the project: traversal, absolute, NUL, symlinks.
HOSTILE_PATHS = ["..", "../..", "../outside", "/etc", "/etc/passwd", "a/../../b", "m\x00x",
                 "link_out", "link_out/m", "~root", "./../models/../..", "C:\\x", "m/../../x",
                 " ", "", "." * 300, "m" * 5000]

HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([10 ** 100, -1, 2 ** 63, 2 ** 31, float("nan"), float("inf"), -0.0, 1e308]),
    st.floats(allow_nan=True), st.text(max_size=50), st.sampled_from(HOSTILE_PATHS),
    st.sampled_from(["{{ undefined }}", "{{ ''.__class__.__mro__ }}", "{{ port * 10**9 }}",
                     "{% for i in range(10**9) %}x{% endfor %}", "{{", "}}", "{{ port.__init__ }}",
                     "x" * 100_000, "\ud800", "\u202e", "!!python/object:os.system"]),
)
HOSTILE_VALUES = st.recursive(HOSTILE_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path to a node of the spec (dict keys and list indexes)."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


ALL_PATHS = [p for p in _paths(BASE) if p]


@st.composite
def mutated_specs(draw: st.DrawFn) -> bytes:
    """The base spec with a few nodes replaced, deleted, or given unknown siblings."""
    spec = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        parent = spec
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "sibling"]))
            if action == "replace":
                parent[path[-1]] = draw(HOSTILE_VALUES)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=12))] = draw(HOSTILE_SCALARS)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    try:
        return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
    except (yaml.YAMLError, ValueError):
        return repr(spec).encode("utf-8", "surrogatepass")


BOMBS: dict[str, bytes] = {
    "billion laughs": b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}]\n".encode() for i in range(9)) + b"servers: *j\n",
    "deep nesting": b"apiVersion: tfsctl/v1\nservers: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "deep mapping": b"servers:\n" + b"".join(b"  " * i + b"a:\n" for i in range(1, 300)),
    "huge file": b"# " + b"x" * (9 * 1024 * 1024) + b"\n",
    "not utf-8": b"apiVersion: tfsctl/v1\nservers: [{name: \xff\xfe}]\n",
    "utf-16 bom": "apiVersion: tfsctl/v1\n".encode("utf-16"),
    "NUL bytes": b"apiVersion: tfsctl/v1\x00\nservers: []\n",
    "python tag": b"apiVersion: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "duplicate keys": b"apiVersion: tfsctl/v1\napiVersion: tfsctl/v1\nservers: []\n",
    "tabs": b"apiVersion: tfsctl/v1\nservers:\n\t- name: s\n",
    "empty": b"",
    "a list": b"- 1\n- 2\n",
    "recursive alias": b"a: &a [*a]\n",
    "huge int version": b"apiVersion: tfsctl/v1\nservers: [{name: s, runtime: local, models: "
                        b"[{name: m, versions: {99999999999999999999999999: {}}}]}]\n",
    "jinja loop": b"apiVersion: tfsctl/v1\nvariables: {n: 1}\nservers: [{name: "
                  b"\"{% for i in range(10**8) %}{% for j in range(10**8) %}x{% endfor %}{% endfor %}\"}]\n",
    "jinja sandbox": b"apiVersion: tfsctl/v1\nvariables: {n: 1}\nservers: [{name: "
                     b"\"{{ n.__class__.__base__.__subclasses__() }}\"}]\n",
}


@contextmanager
def _project() -> Iterator[Path]:
    """A project dir (with a symlink pointing out of it) inside a watched parent dir."""
    with tempfile.TemporaryDirectory() as parent:
        project = Path(parent) / "project"
        (project / "models" / "m" / "1").mkdir(parents=True)
        (project / "models" / "m" / "1" / "saved_model.pb").write_bytes(b"")
        (project / "models" / "m" / "1" / "variables").mkdir()
        outside = Path(parent) / "outside"
        outside.mkdir()
        (project / "link_out").symlink_to(outside)
        (project / "models" / "link_out").symlink_to(outside)
        yield project
        assert not any(outside.iterdir()), "something was written outside the project"
        assert sorted(p.name for p in Path(parent).iterdir()) == ["outside", "project"]


def _check(spec: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with _project() as project:
        spec_file = project / "tfsctl.yaml"
        spec_file.write_bytes(spec)
        for argv in (["validate", str(spec_file)],
                     ["plan", "-f", str(spec_file), "--detailed-exitcode"],
                     ["plan", "-f", str(spec_file), "--json"]):
            code = run(argv)
            out, err = capsys.readouterr()
            assert code in (0, 1, 2), (argv, code, err[-2000:])
            assert "Traceback" not in out + err and "internal error" not in err, (argv, err[-3000:])
            if code == 1:  # said why: a located spec error, or the plan's own errors
                assert "error" in (out + err).lower(), (argv, out[-1000:], err[-1000:])
    TALLY.add("generated or hostile spec files (validate + plan)")


@pytest.fixture(autouse=True)
def _no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("TFSCTL_DEBUG", raising=False)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_and_broken_files(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    _check(BOMBS[name], capsys)


@SETTINGS
@given(spec=mutated_specs())
def test_mutated_specs(spec: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    _check(spec, capsys)


@SETTINGS
@given(spec=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(
    lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_and_text(spec: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    _check(spec, capsys)


@SETTINGS
@given(name=st.sampled_from(HOSTILE_PATHS) | st.text(max_size=30),
       field=st.sampled_from(["name", "base_path", "source"]))
def test_paths_that_try_to_leave_the_model_root(name: str, field: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    spec = copy.deepcopy(BASE)
    model = spec["servers"][0]["models"][0]
    if field == "source":
        model["versions"][2]["source"]["saved_model"] = name
    else:
        model[field] = name
    text = yaml.safe_dump(spec, allow_unicode=True).encode("utf-8", "surrogatepass")
    _check(text, capsys)


def test_no_python_object_was_constructed() -> None:
    """The `!!python/object/apply` bomb above must not have run its command."""
    assert not os.path.exists("/tmp/pwned")
