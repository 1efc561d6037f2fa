"""Shared pieces of the hostile-input tests: an in-process CLI run, a sandbox that notices
writes outside its project directory, and the checks every hostile case must pass.

Hypothesis runs hundreds of inputs per test, so the CLI runs in-process (click's
`CliRunner` isolation around `tfsctl.cli.main.run`, the real exception-to-exit-code
mapping) with TFSCTL_DEBUG=1: an internal error then escapes as an exception, with its
traceback, instead of being turned into a polite "internal error" line.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from click.testing import CliRunner

from tfsctl.cli.main import run

#: A small valid spec touching most fields; tests mutate copies of it.
BASE_SPEC: dict[str, Any] = {
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


def base_spec() -> dict[str, Any]:
    """A fresh deep copy of BASE_SPEC, safe to mutate."""
    return copy.deepcopy(BASE_SPEC)


def dump(spec: Any) -> bytes:
    """YAML bytes of `spec`; lone surrogates (hypothesis text) are kept as invalid UTF-8."""
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    code: int | None
    out: str
    err: str
    exception: BaseException | None

    def __str__(self) -> str:
        return (f"tfsctl {' '.join(self.argv)[:300]} -> {self.code} ({self.exception!r})\n"
                f"stdout: {self.out[-1500:]}\nstderr: {self.err[-2500:]}")


def invoke(*argv: str, env: dict[str, str] | None = None, timeout: int = 60) -> CliResult:
    """Run the tfsctl CLI in this process and capture everything it says; a run longer
    than `timeout` seconds ends with `Hung` as its exception."""
    runner = CliRunner()
    environment = {"NO_COLOR": "1", "TFSCTL_DEBUG": "1", "COLUMNS": "200", **(env or {})}
    code: int | None = None
    exception: BaseException | None = None
    with runner.isolation(env=environment) as (out, err, _):
        try:
            with deadline(timeout):
                code = run(list(argv))
        except SystemExit as exit_:
            code, exception = (exit_.code if isinstance(exit_.code, int) else 1), exit_
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's assertion
            exception = exc
        stdout, stderr = out.getvalue(), err.getvalue()
    return CliResult(argv, code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
                     exception)


class Hung(Exception):
    """A command ran past its deadline (a hang, reported instead of blocking the suite)."""


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Raise `Hung` in this (main) thread if the block runs longer than `seconds`."""
    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def located_error(result: CliResult, spec_file: Path) -> bool:
    """The output holds a compiler-style `file:line:col: error:` for `spec_file`."""
    pattern = re.escape(str(spec_file)) + r":\d+:\d+: error: \S"
    return re.search(pattern, result.err) is not None


def assert_clean_outcome(result: CliResult, spec_file: Path) -> None:
    """What every hostile input must end in: exit 0/1/2, a reason on 1, never a traceback.

    Exit 1 says why: a located spec error naming the file, or an `error:` line or the
    plan's own error list (a spec can be valid and still unplannable: a version with no
    source, say).
    """
    assert result.exception is None or isinstance(result.exception, SystemExit), str(result)
    assert result.code in (0, 1, 2), str(result)
    text = result.out + result.err
    assert "Traceback" not in text and "internal error" not in text, str(result)
    if result.code == 1:
        said_why = re.search(r"(?m)^(error: |Error: |\s+Error \[)\S", text) or '"errors": [\n' in text
        assert located_error(result, spec_file) or said_why, str(result)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` (symlinks not followed) with its size and mtime."""
    found: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclass(frozen=True)
class Sandbox:
    """A project dir and, beside it, an `outside` dir that symlinks in the project point to."""

    parent: Path
    project: Path
    outside: Path

    @property
    def spec_file(self) -> Path:
        return self.project / "tfsctl.yaml"


@contextmanager
def sandbox(with_version: bool = True) -> Iterator[Sandbox]:
    """A throw-away project, with symlinks out of it (`link_out`, `models/link_out`), that
    fails on exit if anything was written beside the project or into `outside`."""
    with tempfile.TemporaryDirectory(prefix="tfsctl-hostile-") as tmp:
        parent = Path(tmp)
        box = Sandbox(parent, parent / "project", parent / "outside")
        (box.project / "models" / "m").mkdir(parents=True)
        if with_version:
            version = box.project / "models" / "m" / "1"
            (version / "variables").mkdir(parents=True)
            (version / "saved_model.pb").write_bytes(b"")
            (version / "variables" / "variables.index").write_bytes(b"")
        (box.outside / "m" / "1").mkdir(parents=True)
        (box.outside / "m" / "1" / "saved_model.pb").write_bytes(b"")
        (box.project / "link_out").symlink_to(box.outside)
        (box.project / "models" / "link_out").symlink_to(box.outside)
        before = _tree(box.outside)
        yield box
        assert _tree(box.outside) == before, "something was written outside the project"
        assert sorted(p.name for p in parent.iterdir()) == ["outside", "project"], \
            "something was created beside the project"


def files_holding(root: Path, needle: str) -> list[Path]:
    """Regular files under `root` (symlinks not followed) whose bytes contain `needle`."""
    data = needle.encode()
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and data in p.read_bytes()]
