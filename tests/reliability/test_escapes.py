"""Path traversal and symlink escapes: model names, base paths, version dirs and sources
that try to lead tfsctl outside the model root.

The rules (tfsctl/spec/model.py, tfsctl/spec/checks.py, tfsctl/live/modeldir.py):

* a model name is one safe path component: `..`, `/`, NUL and absolute paths are
  spec errors at `name`;
* a base path outside the model root is a spec error at `base_path`, unless a local
  server sets `allow_external_base_paths: true` (documented); docker servers never;
* a base path or version dir that is inside the root by name but leads outside through
  a symlink is a plan error (`path-escape`): apply refuses, plan exits 1;
* the model root itself may be a symlink: it is resolved, and the models under it
  are inside it;
* sources are read, never written: they may live anywhere, but a special file (a FIFO,
  /dev/zero) in a source is a plan error, not a hang.

Whatever the case, nothing is written, created or deleted outside the project.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reliability.tally import Tally
from tests.support.cli import assert_clean_outcome, invoke, located_error
from tests.support.deployment import HALF_PLUS_TWO
from tests.support.sandbox import Sandbox, base_spec, dump, sandbox

TRAVERSALS = ["..", "../..", "../outside", "/etc", "/etc/passwd", "a/../../b", "m\x00x", "~root",
              "./../models/../..", "C:\\x", "m/../../x", "../../../../../../../../tmp", " ", "",
              "." * 300, "m" * 5000, "link_out", "link_out/m", "models/link_out", "\\..\\..",
              "%2e%2e/%2e%2e", "m/./../../outside", "/proc/self/root/etc"]


def _spec(box: Sandbox, edit: Callable[[dict[str, Any]], object]) -> Path:
    """The base spec, with `src/m/2` a real SavedModel source, after `edit`."""
    spec = base_spec()
    source = box.project / "src" / "m" / "2"
    if not source.exists():
        source.parent.mkdir(parents=True)
        source.symlink_to(HALF_PLUS_TWO)
    edit(spec)
    box.spec_file.write_bytes(dump(spec))
    return box.spec_file


def _model(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["servers"][0]["models"][0]


def _outcomes(box: Sandbox, *commands: tuple[str, ...]) -> list[Any]:
    """validate, plan and the given commands; each must end cleanly."""
    results = []
    for argv in (("validate", str(box.spec_file)), ("plan", "-f", str(box.spec_file)), *commands):
        result = invoke(*argv)
        assert_clean_outcome(result, box.spec_file)
        results.append(result)
    return results


@settings(max_examples=60, deadline=5_000)
@given(value=st.sampled_from(TRAVERSALS) | st.text(max_size=30),
       field=st.sampled_from(["name", "base_path", "saved_model", "model_root", "state_dir"]))
def test_generated_traversals(value: str, field: str, tally: Tally) -> None:
    """Any path-like value in any path field: a clean outcome, and nothing written outside."""
    def edit(spec: dict[str, Any]) -> None:
        if field == "saved_model":
            _model(spec)["versions"][2]["source"]["saved_model"] = value
        elif field in ("model_root", "state_dir"):
            spec["servers"][0][field] = value
        else:
            _model(spec)[field] = value

    with sandbox() as box:
        _spec(box, edit)
        _outcomes(box, ("plan", "-f", str(box.spec_file), "--json"))
    tally.add("escape attempts")


@pytest.mark.parametrize("name", ["..", "../x", "a/b", "/abs", "m\x00x", ".hidden", "a..b", "-x"])
def test_unsafe_model_names_are_errors_at_name(name: str, tally: Tally) -> None:
    with sandbox() as box:
        _spec(box, lambda s: _model(s).update(name=name))
        result, _ = _outcomes(box)
    assert result.code == 1 and located_error(result, box.spec_file), str(result)
    assert "not a safe name" in result.err or "NUL" in result.err, str(result)
    tally.add("escape attempts")


@pytest.mark.parametrize("runtime", ["local", "docker"])
@pytest.mark.parametrize("base_path", ["../outside/m", "/tmp/elsewhere", "m/../../../x"])
def test_base_paths_outside_the_root_are_errors(base_path: str, runtime: str, tally: Tally) -> None:
    with sandbox() as box:
        _spec(box, lambda s: (_model(s).update(base_path=base_path),
                              s["servers"][0].update(runtime=runtime)))
        result, _ = _outcomes(box)
    assert result.code == 1 and "outside the model root" in result.err, str(result)
    assert located_error(result, box.spec_file), str(result)
    tally.add("escape attempts")


def test_allow_external_base_paths_is_the_documented_way_out(tally: Tally) -> None:
    """Local servers may opt in; docker servers cannot (they see only the mounted root, and
    the key is not theirs)."""
    with sandbox() as box:
        outside_m = str(box.outside / "m")
        _spec(box, lambda s: (_model(s).update(base_path=outside_m),
                              s["servers"][0].update(allow_external_base_paths=True)))
        validate, plan = _outcomes(box)
        assert validate.code == 0, str(validate)
        assert "path-escape" not in plan.out, str(plan)
        _spec(box, lambda s: (_model(s).update(base_path=outside_m),
                              s["servers"][0].update(allow_external_base_paths=True,
                                                     runtime="docker")))
        validate, _ = _outcomes(box)
        assert validate.code == 1, str(validate)
        assert "'allow_external_base_paths' is not a setting of the docker runtime" in \
            validate.err, str(validate)
    tally.add("escape attempts", 2)


def _link_model_dir(box: Sandbox) -> None:
    """models/m is a symlink to outside/m (which holds a complete-looking version 1)."""
    model_dir = box.project / "models" / "m"
    for path in sorted(model_dir.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    model_dir.rmdir()
    model_dir.symlink_to(box.outside / "m")


def _link_version_dir(box: Sandbox) -> None:
    """models/m/1 is a symlink to outside/m/1."""
    version = box.project / "models" / "m" / "1"
    for path in sorted(version.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    version.rmdir()
    version.symlink_to(box.outside / "m" / "1")


SYMLINK_ESCAPES: dict[str, Callable[[Sandbox], object]] = {
    "model dir is a symlink out": _link_model_dir,
    "version dir is a symlink out": _link_version_dir,
    "base path through models/link_out": lambda box: None,
}


@pytest.mark.parametrize("case", sorted(SYMLINK_ESCAPES))
def test_symlink_escapes_are_plan_errors_and_apply_refuses(case: str, tally: Tally) -> None:
    """Inside the root by name, outside through a symlink: plan says path-escape and exits 1;
    apply and destroy --purge refuse, so nothing outside is written or deleted."""
    with sandbox() as box:
        SYMLINK_ESCAPES[case](box)
        base = {"base_path": "link_out/m"} if "link_out" in case else {}
        _spec(box, lambda s: (_model(s).update(base), _model(s).update(policy="all",
                                                                       labels={}, smoke=[]),
                              _model(s)["versions"].pop(2)))
        spec = str(box.spec_file)
        results = _outcomes(box, ("apply", "-f", spec, "--auto-approve"),
                            ("destroy", "-f", spec, "--auto-approve", "--purge"))
        validate, plan, apply, destroy = results
        assert validate.code == 0, str(validate)
        assert plan.code == 1 and "path-escape" in plan.out and "outside the model root" in plan.out, \
            str(plan)
        assert apply.code == 1 and "nothing was changed" in apply.err, str(apply)
        # regression: destroy --purge planned to delete the version dir outside the root
        assert destroy.code == 1 and "outside the model root" in destroy.out + destroy.err, str(destroy)
        assert (box.outside / "m" / "1" / "saved_model.pb").exists()
    tally.add("escape attempts", len(results))


def test_model_root_may_be_a_symlink(tally: Tally) -> None:
    """A model root that is itself a symlink is resolved: its models are inside it."""
    with sandbox() as box:
        real_root = box.project / "real-models"
        (box.project / "models").rename(real_root)
        (box.project / "models").symlink_to(real_root)
        _spec(box, lambda s: (_model(s).update(policy="all", labels={}, smoke=[]),
                              _model(s)["versions"].pop(2)))
        validate, plan = _outcomes(box)
    assert validate.code == 0 and "path-escape" not in plan.out, str(plan)
    tally.add("escape attempts")


def _fifo_in_source(box: Sandbox) -> None:
    """An exported version 2 whose recorded source now holds a FIFO (reading it would block)."""
    source = box.project / "src" / "m" / "2"
    source.parent.mkdir(parents=True)
    source.mkdir()
    (source / "saved_model.pb").write_bytes(b"x")
    (source / "variables").mkdir()
    os.mkfifo(source / "variables" / "variables.data-00000-of-00001")
    version = box.project / "models" / "m" / "2"
    (version / "variables").mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"x")
    (version / "variables" / "variables.index").write_bytes(b"x")
    records = box.project / "models" / "m" / ".tfsctl" / "versions"
    records.mkdir(parents=True)
    (records / "2.json").write_text('{"version": 2, "source_kind": "saved_model", "source_path": '
                                    f'"{source}", "source_fingerprint": "0"}}')


@pytest.mark.parametrize("special", ["fifo in an exported version's source", "/dev/zero as keras",
                                     "saved_model.pb -> /dev/zero", "/dev/null as checkpoint"])
def test_special_files_as_sources_are_errors_not_hangs(special: str, tally: Tally) -> None:
    with sandbox() as box:
        if special.startswith("fifo"):
            _fifo_in_source(box)
            _spec(box, lambda s: None)
        elif special.startswith("saved_model.pb"):
            source_dir = box.project / "src" / "m" / "2"
            (source_dir / "variables").mkdir(parents=True)
            (source_dir / "saved_model.pb").symlink_to("/dev/zero")
            _spec(box, lambda s: None)
        else:
            kind, path = ("keras", "/dev/zero") if "keras" in special else ("checkpoint", "/dev/null")
            source: dict[str, Any] = {kind: path}
            if kind == "checkpoint":
                source.update(inputs={"x": "x:0"}, outputs={"y": "y:0"})
            _spec(box, lambda s: _model(s)["versions"][2].update(source=source))
        _, plan = _outcomes(box)
        if special.startswith("fifo"):  # regression: plan hung hashing the FIFO
            assert "is not a regular file" in plan.out, str(plan)
        else:
            assert plan.code == 1, str(plan)
    tally.add("escape attempts")


def test_destroy_purge_of_a_server_that_is_not_running(tally: Tally) -> None:
    """Regression: destroy of a server with no process waited --timeout (300 s) for it to
    serve; it removes the files, deletes only versions inside the root, and returns."""
    with sandbox() as box:
        _spec(box, lambda s: (_model(s).update(policy="all", labels={}, smoke=[]),
                              _model(s)["versions"].pop(2)))
        (box.project / "models" / "model.config").write_text("model_config_list {}\n")
        result = invoke("destroy", "-f", str(box.spec_file), "--auto-approve", "--purge",
                        "--timeout", "120", timeout=300)  # a hang ends as `Hung`
        assert_clean_outcome(result, box.spec_file)
        assert result.code == 0, str(result)
        assert not (box.project / "models" / "m" / "1").exists()
        assert not (box.project / "models" / "model.config").exists()
    tally.add("escape attempts")
