"""The CLI classes of the second hostile-input round: each ended in `internal error`, ran
out of memory, or made `import` write a spec its own `validate` rejects.

Every case runs the real CLI in-process with TFSCTL_DEBUG=1 (tests/support/cli.py),
so an internal error escapes as an exception and fails the assertion with its traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import assert_clean_outcome, invoke
from tests.support.paths import REPO
from tests.support.sandbox import base_spec, dump, sandbox
from tfsctl.spec import yamlparse


def _validate(spec: dict) -> str:
    """Validate and plan `spec`; both end in a clean outcome; returns validate's stderr."""
    with sandbox() as box:
        box.spec_file.write_bytes(dump(spec))
        result = invoke("validate", str(box.spec_file))
        assert_clean_outcome(result, box.spec_file)
        for argv in (("plan", "-f", str(box.spec_file), "--json"),
                     ("render", "-f", str(box.spec_file), "--what", "all")):
            assert_clean_outcome(invoke(*argv), box.spec_file)
    return result.err


def _with_key(spec: dict, field: str) -> dict:
    """The spec's server, made a docker one when `field` is a docker key (the base is local),
    so that the value itself is validated."""
    server = spec["servers"][0]
    if field.partition(".")[0] in ("image", "resources"):
        server["runtime"] = "docker"
    return server


@pytest.mark.parametrize("template", [
    "{{ 1e400|int }}", "{{ 1e400 }}", "{{ -1e400 }}", "{{ 'nan'|float }}", "{{ 'inf'|float|int }}",
    "{{ 1e400 - 1e400 }}", "{{ [1e400] }}", "{{ {'a': 1e400} }}", "x{{ 1e400 ~ 'nan'|float }}",
    "{{ 1e308 * 10 }}",
])
@pytest.mark.parametrize("field", ["image", "ports.grpc", "resources.cpus", "flags.f"])
def test_overflowing_floats_in_templates_are_spec_errors(template: str, field: str) -> None:
    """`1e400` is `inf`, which Jinja wrote into generated Python as the undefined name `inf`."""
    spec = base_spec()
    server = _with_key(spec, field)
    section, _, key = field.partition(".")
    if key:
        server.setdefault(section, {})[key] = template
    else:
        server[section] = template
    _validate(spec)


@pytest.mark.parametrize("template", ["{{ 10 ** 5000 }}", "{{ -(10 ** 5000) }}",
                                      "{{ 7 ** 9000 }}", "{{ " + "9" * 5000 + " }}"])
@pytest.mark.parametrize("field", ["ports.grpc", "image", "flags.f", "env.A", "smoke"])
def test_huge_integers_are_reported_by_size(template: str, field: str) -> None:
    """A number of thousands of digits cannot be turned into text (Python refuses past 4,300
    digits): the error says how big it is instead of failing while quoting it."""
    spec = base_spec()
    server = _with_key(spec, field)
    if field == "smoke":
        server["models"][0]["smoke"][0]["request"]["instances"] = [template]
    else:
        section, _, key = field.partition(".")
        if key:
            server.setdefault(section, {})[key] = template
        else:
            server[section] = template
    err = _validate(spec)
    assert "Exceeds the limit" not in err and "set_int_max_str_digits" not in err, err


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "directory"])
def test_special_files_are_refused_without_reading_them(special: str, tmp_path: Path) -> None:
    """/dev/zero used to be read until memory ran out; a FIFO blocked in open()."""
    path = Path(special)
    if special == "fifo":
        path = tmp_path / "spec.yaml"
        os.mkfifo(path)
    elif special == "directory":
        path = tmp_path
    for argv in (("validate", str(path)), ("plan", "-f", str(path)), ("import", str(path))):
        result = invoke(*argv, timeout=30)
        assert result.code == 1 and result.exception is None, str(result)
        assert re.search(r"is (a device|a pipe \(FIFO\)|a directory), not a regular file",
                         result.err), str(result)
        assert result.err.startswith(f"{path}:1:1: error:"), str(result)


def test_the_size_limit_applies_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """A file over the limit is refused after reading limit + 1 bytes, not all of it."""
    from tfsctl.spec import readfile

    reads: list[int] = []
    real_read = readfile.os.fdopen

    def counting_fdopen(*args: object, **kwargs: object) -> object:
        stream = real_read(*args, **kwargs)  # type: ignore[call-overload]
        original = stream.read

        def read(size: int = -1) -> bytes:
            reads.append(size)
            return original(size)

        stream.read = read
        return stream

    monkeypatch.setattr(readfile.os, "fdopen", counting_fdopen)
    spec = tmp_path / "big.yaml"
    spec.write_bytes(b"# " + b"x" * (yamlparse.MAX_BYTES + 10))
    result = invoke("validate", str(spec))
    assert result.code == 1 and "larger than" in result.err, str(result)
    assert reads == [yamlparse.MAX_BYTES + 1]


def test_an_8_mb_spec_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    """An 8 MB flow list of 2.8 million values peaked at ~1 GB while libyaml composed its
    nodes; counted from parse events it is refused before any node exists. The bound is
    generous (about a third of the old peak) and measured in a fresh process."""
    spec = tmp_path / "big.yaml"
    count = (yamlparse.MAX_BYTES - 100) // 3
    spec.write_text("apiVersion: tfsctl/v1\nx: [" + "1, " * count + "1]\nservers: []\n")
    assert spec.stat().st_size <= yamlparse.MAX_BYTES
    # VmHWM, not ru_maxrss: getrusage's peak survives exec, so it would include the RSS
    # of the pytest process this one was forked from; VmHWM belongs to the new image.
    probe = ("import re, sys\n"
             "from tfsctl.cli.main import run\n"
             "code = run(['validate', sys.argv[1]])\n"
             "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]\n"
             "print('peak_kb', peak, code)\n")
    done = subprocess.run([sys.executable, "-c", probe, str(spec)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
                          timeout=600)
    match = re.search(r"peak_kb (\d+) (\d+)", done.stdout)
    assert match, done.stdout + done.stderr
    peak_mb, code = int(match[1]) // 1024, int(match[2])
    assert code == 1 and "more than" in done.stderr and "keys and values" in done.stderr, \
        done.stderr[-2000:]
    assert peak_mb < 350, f"peak {peak_mb} MB"


# ------------------------------------------------------------------ import


def _import(tmp_path: Path, text: bytes, *extra: str) -> tuple[Path, str, int | None]:
    config = tmp_path / "model.config"
    config.write_bytes(text)
    out = tmp_path / "imported.yaml"
    result = invoke("import", str(config), "-o", str(out), *extra)
    assert result.exception is None, str(result)
    assert "internal error" not in result.err, str(result)
    if result.code == 0:  # what import writes, validate accepts
        check = invoke("validate", str(out))
        assert check.code == 0, f"import wrote a spec validate rejects:\n{out.read_text()}\n{check}"
    else:
        assert not out.exists(), "a failed import wrote its output"
    return config, result.err, result.code


def _entry(fields: str) -> bytes:
    return f"model_config_list {{\n  config {{\n{fields}\n  }}\n}}\n".encode()


@pytest.mark.parametrize("text", [
    b'model_config_list { config { name: "m\xff" base_path: "/m" } }',
    b"\xff\xfe" + "model_config_list {}".encode("utf-16-le"),
    b'# caf\xe9 (latin-1)\nmodel_config_list { }\n',
])
def test_import_of_non_utf8_is_located(tmp_path: Path, text: bytes) -> None:
    config, err, code = _import(tmp_path, text)
    assert code == 1 and "not valid UTF-8" in err and re.match(rf"{config}:\d+:\d+: error", err), err


@pytest.mark.parametrize("depth", [40, 200, 2000])
@pytest.mark.parametrize("opener", ["[type.googleapis.com/google.protobuf.Any] {", "a {", "a <"])
def test_import_of_deep_nesting_is_refused(tmp_path: Path, depth: int, opener: str) -> None:
    closer = "}" if opener.endswith("{") else ">"
    text = "custom_model_config { " + (opener + " ") * depth + closer * depth + " }\n"
    _, err, code = _import(tmp_path, text.encode())
    assert code == 1 and "nest more than" in err, err


@pytest.mark.parametrize("fields, expected", [
    ('name: "m" base_path: "/x/m" model_version_policy { specific { versions: -1 } }',
     "version -1 is negative"),
    ('name: "m" base_path: "/x/m" model_version_policy { specific { versions: 1 versions: -7 } }',
     "version -7 is negative"),
    ('name: "m" base_path: "/x/m" model_version_policy { all {} } '
     'version_labels { key: "stable" value: -2 }', "version -2 is negative"),
    ('name: "m" base_path: "/x/m" model_version_policy { all {} } '
     'version_labels { key: "a/../b" value: 1 }', "label 'a/../b' is not a label"),
    ('name: "m" base_path: "/x/m" model_version_policy { all {} } '
     'version_labels { key: "can-ary" value: 1 }', "label 'can-ary' is not a label"),
    ('name: "m" base_path: "/x/m" model_version_policy { all {} } '
     'version_labels { key: "" value: 1 }', "label '' is not a label"),
    ('base_path: "/x/m"', "has no name"),
    ('name: "" base_path: "/x/m"', "has no name"),
    ('name: "../m" base_path: "/x/m"', "is not a safe name"),
    ('name: "a b" base_path: "/x/m"', "is not a safe name"),
    ('name: "m" base_path: "/x/m" model_platform: "TensorFlow"', "platform names are lower case"),
    ('name: "m" base_path: "/x/m" model_platform: "TENSORFLOW"', "platform names are lower case"),
    ('name: "m" base_path: "/x/m" model_platform: "my platform"', "is not a platform name"),
    ('name: "m" base_path: "/x/m" logging_config { sampling_config { sampling_rate: 1 } }',
     "logging_config"),
])
def test_import_refuses_entries_validate_would_reject(tmp_path: Path, fields: str,
                                                      expected: str) -> None:
    config, err, code = _import(tmp_path, _entry(fields))
    assert code == 1 and expected in err, err
    assert re.match(rf"{config}:\d+:\d+: error: ", err) and "  fix: " in err, err


@pytest.mark.parametrize("text, expected", [
    (b'model_config_list { config { name: "m" base_path: "/x/m" } '
     b'config { name: "m" base_path: "/x/n" } }', "listed twice"),
    (b'model_config_list { config { name: "m" base_path: "/x/m" } '
     b'config { name: "n" base_path: "/x/m" } }', "share the base path"),
])
def test_import_refuses_configs_validate_would_reject(tmp_path: Path, text: bytes,
                                                      expected: str) -> None:
    _, err, code = _import(tmp_path, text)
    assert code == 1 and expected in err, err


def test_import_errors_are_located_with_a_hint_for_an_unclosed_brace(tmp_path: Path) -> None:
    """The tutorial's own config misses a `}`: protobuf complains four lines later about a
    field named `config`; the error names the block that is never closed."""
    text = (b'model_config_list {\n  config {\n    name: "a"\n    base_path: "/models/a"\n'
            b'    model_platform: "tensorflow"\n    model_version_policy { all {} }\n'
            b'  config {\n    name: "b"\n    base_path: "/models/b"\n  }\n}\n')
    config, err, code = _import(tmp_path, text)
    assert code == 1, err
    assert err.startswith(f"{config}:7:3: error: not a valid model.config: "), err
    assert "    ^" in err and "fix: the `config {` block opened at line 2 is never closed" in err, err


@pytest.mark.parametrize("text, hint", [
    (b'model_config_list { config { name: "m" base_path: "/x/m" } } }', "closes nothing"),
    (b'model_config_list {\n  config {\n    name: "m"\n', "opened at line 2 is never closed"),
    (b'model_config_list { config { name: "m" base_path "/x/m" } }', "protobuf text format"),
])
def test_import_syntax_errors_say_what_to_fix(tmp_path: Path, text: bytes, hint: str) -> None:
    config, err, code = _import(tmp_path, text)
    assert code == 1 and re.match(rf"{config}:\d+:\d+: error: \S", err) and hint in err, err


def test_a_valid_config_still_imports(tmp_path: Path) -> None:
    text = _entry('name: "m" base_path: "/x/m" model_platform: "tensorflow" '
                  'model_version_policy { specific { versions: 1 versions: 2 } } '
                  'version_labels { key: "stable" value: 1 }')
    _, err, code = _import(tmp_path, text)
    assert code == 0, err

