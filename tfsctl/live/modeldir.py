"""Observe a model's base path: version dirs, their completeness, leftovers, escapes.

Read-only and fast: one `scandir` per model and one per version dir, no file
opens, so plan stays well under a second for thousands of versions. The
fingerprint of a version dir is a hash of its files' names, sizes and mtimes:
enough to notice that a version was rewritten, without reading model weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from tfsctl.live.state import ExportRecord, ModelDir, VersionDir

TEMP_PREFIX = ".tfsctl-tmp-"
#: Where exports record their source, inside the base path (not a version name, so
#: TF Serving ignores it).
RECORDS_DIR = Path(".tfsctl") / "versions"


def parse_version(name: str) -> int | None:
    """`123` and `00000123` are version 123; anything else is not a version dir."""
    return int(name) if name.isdigit() and len(name) <= 19 else None


_NAME = attrgetter("name")


def _sorted_entries(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as found:
        return sorted(found, key=_NAME)


def _scan_version(path: str) -> tuple[str, set[str], set[str], int]:
    """Names, sizes and mtimes of a version dir's files (two levels, like a SavedModel):
    the digest, the top-level names, the names in variables/ and the total size (what
    TF Serving loads into memory, roughly). The lines hashed are joined and hashed once:
    the digest is the same as line by line, for a tenth of the calls."""
    lines: list[str] = []
    top: set[str] = set()
    variables: set[str] = set()
    size = 0
    stack = [(path, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = _sorted_entries(folder)
        except OSError:
            continue
        if not prefix:
            top = {entry.name for entry in entries}
        elif prefix == "variables/":
            variables = {entry.name for entry in entries}
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    lines.append(f"d {rel}\n")
                    stack.append((entry.path, rel + "/"))
                else:
                    stat = entry.stat(follow_symlinks=False)
                    lines.append(f"f {rel} {stat.st_size} {stat.st_mtime_ns}\n")
                    size += stat.st_size
            except OSError:
                continue
    return hashlib.sha256("".join(lines).encode()).hexdigest()[:16], top, variables, size


def inspect_version(path: str, version: int, name: str) -> VersionDir:
    digest, top, variables, size = _scan_version(path)
    problem = None
    if "saved_model.pb" not in top and "saved_model.pbtxt" not in top:
        problem = "no saved_model.pb"
    elif "variables" in top and not any(n.startswith("variables.index") for n in variables):
        problem = "variables/ has no variables.index"
    return VersionDir(version, name, problem is None, problem, digest, size)


@dataclass(frozen=True)
class Confinement:
    """The model root a server's base paths must resolve into, resolved once per
    observation (never kept longer: a root re-pointed between two plans must count).

    `linked` are the root's own entries that are symlinks, from the one scan of the root
    that also finds unmanaged dirs: a base path that is a direct child of the root and
    not one of them cannot lead out, so it is not resolved (5,000 realpath calls were a
    tenth of observing 5,000 models)."""

    root: Path
    real_root: str
    linked: frozenset[str] = frozenset()

    @classmethod
    def of(cls, root: Path, entries: Iterable[os.DirEntry[str]] = ()) -> Confinement:
        return cls(root, os.path.realpath(root),
                   frozenset(e.name for e in entries if e.is_symlink()))

    def escape(self, path: str) -> str | None:
        """A symlink anywhere on the way that leads outside the model root."""
        real, root = os.path.realpath(path), self.real_root
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            return f"{path} resolves to {real}, outside the model root {root}"
        return None

    def base_escape(self, base_path: Path) -> str | None:
        if base_path.parent == self.root and base_path.name not in self.linked:
            return None
        return self.escape(str(base_path))


def _export_records(base_path: Path) -> tuple[ExportRecord, ...]:
    records = []
    folder = base_path / RECORDS_DIR
    try:
        names = sorted(e.name for e in os.scandir(folder))
    except OSError:
        return ()
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            data = json.loads((folder / name).read_text())
            records.append(ExportRecord(int(data["version"]), str(data["source_kind"]),
                                        str(data["source_path"]), str(data["source_fingerprint"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record only means the source-changed check is skipped
    return tuple(records)


def observe_model_dir(base_path: Path, confinement: Confinement | None) -> ModelDir:
    """The model's versions on disk; `confinement` None skips the escape check (a local
    server with `allow_external_base_paths: true` may keep its models anywhere).
    The base path is listed once; its records dir only when that listing shows `.tfsctl`."""
    base = str(base_path)
    escapes = confinement.base_escape(base_path) if confinement is not None else None
    try:
        entries = _sorted_entries(base)
    except OSError:
        return ModelDir(base_path, False, escapes_root=escapes)
    versions: list[VersionDir] = []
    ignored: list[str] = []
    temporary: list[str] = []
    seen: dict[int, str] = {}
    records = False
    for entry in entries:
        number = parse_version(entry.name)
        if entry.name.startswith(TEMP_PREFIX):
            temporary.append(entry.name)
        elif number is not None and entry.is_dir():
            if number in seen:
                versions.append(VersionDir(number, entry.name, False,
                                           f"version {number} is also the dir {seen[number]!r}; "
                                           "TF Serving would pick one arbitrarily"))
                continue
            seen[number] = entry.name
            if entry.is_symlink() and escapes is None and confinement is not None:
                escapes = confinement.escape(entry.path)
            versions.append(inspect_version(entry.path, number, entry.name))
        elif entry.name == RECORDS_DIR.parts[0]:
            records = True
        else:
            ignored.append(entry.name)
    return ModelDir(base_path, True, tuple(sorted(versions, key=lambda v: v.version)),
                    tuple(ignored), tuple(temporary),
                    _export_records(base_path) if records else (), escapes)
