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
from pathlib import Path

from tfsctl.live.state import ExportRecord, ModelDir, VersionDir

TEMP_PREFIX = ".tfsctl-tmp-"
#: Where exports record their source, inside the base path (not a version name, so
#: TF Serving ignores it).
RECORDS_DIR = Path(".tfsctl") / "versions"


def parse_version(name: str) -> int | None:
    """`123` and `00000123` are version 123; anything else is not a version dir."""
    return int(name) if name.isdigit() and len(name) <= 19 else None


def _walk_stats(path: str, digest: hashlib._Hash, prefix: str = "") -> set[str]:
    """Feed name/size/mtime of every file below `path` into `digest`; returns the top names."""
    names: set[str] = set()
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except OSError:
        return names
    for entry in entries:
        names.add(entry.name)
        rel = f"{prefix}{entry.name}"
        try:
            if entry.is_dir(follow_symlinks=False):
                digest.update(f"d {rel}\n".encode())
                _walk_stats(entry.path, digest, rel + "/")
            else:
                stat = entry.stat(follow_symlinks=False)
                digest.update(f"f {rel} {stat.st_size} {stat.st_mtime_ns}\n".encode())
        except OSError:
            continue
    return names


def inspect_version(path: Path, version: int, name: str) -> VersionDir:
    digest = hashlib.sha256()
    top = _walk_stats(str(path), digest)
    problem = None
    if "saved_model.pb" not in top and "saved_model.pbtxt" not in top:
        problem = "no saved_model.pb"
    elif "variables" in top and not any(
            n.startswith("variables.index") for n in _names(path / "variables")):
        problem = "variables/ has no variables.index"
    return VersionDir(version, name, problem is None, problem, digest.hexdigest()[:16])


def _names(path: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(path)]
    except OSError:
        return []


def _escape(path: Path, model_root: Path) -> str | None:
    """A symlink anywhere on the way that leads outside the model root."""
    try:
        real = path.resolve()
        root = model_root.resolve()
    except OSError:
        return None
    if real != root and root not in real.parents:
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


def observe_model_dir(base_path: Path, model_root: Path) -> ModelDir:
    if not base_path.is_dir():
        return ModelDir(base_path, False, escapes_root=_escape(base_path, model_root)
                        if base_path.is_symlink() else None)
    versions: list[VersionDir] = []
    ignored: list[str] = []
    temporary: list[str] = []
    seen: dict[int, str] = {}
    for entry in sorted(os.scandir(base_path), key=lambda e: e.name):
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
            versions.append(inspect_version(Path(entry.path), number, entry.name))
        elif entry.name != ".tfsctl":
            ignored.append(entry.name)
    escapes = _escape(base_path, model_root)
    for version in versions:
        escapes = escapes or (_escape(base_path / version.name, model_root)
                              if (base_path / version.name).is_symlink() else None)
    return ModelDir(base_path, True, tuple(sorted(versions, key=lambda v: v.version)),
                    tuple(ignored), tuple(temporary), _export_records(base_path), escapes)
