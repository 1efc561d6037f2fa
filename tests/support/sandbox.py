"""Throw-away projects for hostile-input tests: a valid spec to mutate, and a sandbox that
notices writes outside its project directory."""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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
