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
from functools import lru_cache
from pathlib import Path

from tfsctl.live.state import ExportRecord, ModelDir, VersionDir

TEMP_PREFIX = ".tfsctl-tmp-"
#: Where exports record their source, inside the base path (not a version name, so
#: TF Serving ignores it).
RECORDS_DIR = Path(".tfsctl") / "versions"


def parse_version(name: str) -> int | None:
    """`123` and `00000123` are version 123; anything else is not a version dir."""
    return int(name) if name.isdigit() and len(name) <= 19 else None


def _scan_version(path: str) -> tuple[hashlib._Hash, set[str], set[str], int]:
    """Names, sizes and mtimes of a version dir's files (two levels, like a SavedModel):
    the digest, the top-level names, the names in variables/ and the total size (what
    TF Serving loads into memory, roughly)."""
    digest = hashlib.sha256()
    top: set[str] = set()
    variables: set[str] = set()
    size = 0
    stack = [(path, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            if not prefix:
                top.add(entry.name)
            elif prefix == "variables/":
                variables.add(entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    digest.update(f"d {rel}\n".encode())
                    stack.append((entry.path, rel + "/"))
                else:
                    stat = entry.stat(follow_symlinks=False)
                    digest.update(f"f {rel} {stat.st_size} {stat.st_mtime_ns}\n".encode())
                    size += stat.st_size
            except OSError:
                continue
    return digest, top, variables, size


def inspect_version(path: str, version: int, name: str) -> VersionDir:
    digest, top, variables, size = _scan_version(path)
    problem = None
    if "saved_model.pb" not in top and "saved_model.pbtxt" not in top:
        problem = "no saved_model.pb"
    elif "variables" in top and not any(n.startswith("variables.index") for n in variables):
        problem = "variables/ has no variables.index"
    return VersionDir(version, name, problem is None, problem, digest.hexdigest()[:16], size)


def _names(path: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(path)]
    except OSError:
        return []


@lru_cache(maxsize=64)
def _real_root(model_root: str) -> str:
    return os.path.realpath(model_root)


def _escape(path: str, model_root: Path) -> str | None:
    """A symlink anywhere on the way that leads outside the model root."""
    real, root = os.path.realpath(path), _real_root(str(model_root))
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        return f"{path} resolves to {real}, outside the model root {root}"
    return None


def _export_records(base_path: Path) -> tuple[ExportRecord, ...]:
    records = []
    for name in sorted(_names(base_path / RECORDS_DIR)):
        if not name.endswith(".json"):
            continue
        try:
            data = json.loads((base_path / RECORDS_DIR / name).read_text())
            records.append(ExportRecord(int(data["version"]), str(data["source_kind"]),
                                        str(data["source_path"]), str(data["source_fingerprint"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged record only means the source-changed check is skipped
    return tuple(records)


def observe_model_dir(base_path: Path, model_root: Path | None) -> ModelDir:
    """The model's versions on disk; `model_root` None skips the escape check (a local
    server with `allow_external_base_paths: true` may keep its models anywhere)."""
    base = str(base_path)
    escapes = _escape(base, model_root) if model_root is not None else None
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return ModelDir(base_path, False, escapes_root=escapes)
    versions: list[VersionDir] = []
    ignored: list[str] = []
    temporary: list[str] = []
    seen: dict[int, str] = {}
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
            if entry.is_symlink() and escapes is None and model_root is not None:
                escapes = _escape(entry.path, model_root)
            versions.append(inspect_version(entry.path, number, entry.name))
        elif entry.name != ".tfsctl":
            ignored.append(entry.name)
    return ModelDir(base_path, True, tuple(sorted(versions, key=lambda v: v.version)),
                    tuple(ignored), tuple(temporary), _export_records(base_path), escapes)
