"""Observe the version sources a spec names: do they exist, and what do they hash to.

Sources are inputs to exports, read from disk, so observing them is I/O and
happens here, before planning; the planner only compares the results. A
source is fingerprinted only when it matters: when its version already exists
and tfsctl recorded which source it was exported from, so that a changed
source under an existing version number is caught (versions are immutable);
and when its version is to be exported, so that the plan records the digest
of what was reviewed and apply refuses a source that changed since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tfsctl.live.state import LiveState
from tfsctl.spec.model import Spec
from tfsctl.spec.sources import CheckpointSource, KerasSource, SavedModelSource

SourceKey = tuple[str, str, int]  # server, model, version


@dataclass(frozen=True)
class SourceObservation:
    exists: bool
    problem: str | None = None
    fingerprint: str | None = None
    size_bytes: int | None = None  # a SavedModel's size, observed for servers with a memory limit


def source_path(source: SavedModelSource | CheckpointSource | KerasSource) -> Path:
    if isinstance(source, SavedModelSource):
        return source.saved_model
    if isinstance(source, KerasSource):
        return source.keras
    return source.checkpoint


def source_kind(source: SavedModelSource | CheckpointSource | KerasSource) -> str:
    if isinstance(source, SavedModelSource):
        return "saved_model"
    return "keras" if isinstance(source, KerasSource) else "checkpoint"


def _exists(source: SavedModelSource | CheckpointSource | KerasSource) -> str | None:
    """None when the source looks usable, else what is wrong with it."""
    if isinstance(source, SavedModelSource):
        root = source.saved_model
        if not root.is_dir():
            return f"{root} is not a directory"
        if not ((root / "saved_model.pb").is_file() or (root / "saved_model.pbtxt").is_file()):
            return f"{root} holds no saved_model.pb"
        return None
    if isinstance(source, KerasSource):
        return None if source.keras.is_file() else f"{source.keras} does not exist"
    checkpoint = source.checkpoint
    meta = source.meta_graph or Path(f"{checkpoint}.meta")
    if checkpoint.is_dir():
        return None if (checkpoint / "checkpoint").is_file() else \
            f"{checkpoint} holds no `checkpoint` state file"
    if not meta.is_file():
        return f"meta graph {meta} does not exist"
    if not Path(f"{checkpoint}.index").is_file() and not checkpoint.is_file():
        return f"checkpoint {checkpoint} has no .index file"
    return None


def _tree_size(root: Path) -> int:
    """The total size of the regular files under `root` (symlinks not followed)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def observe_sources(spec: Spec, live: LiveState) -> dict[SourceKey, SourceObservation]:
    observations: dict[SourceKey, SourceObservation] = {}
    for server in spec.servers:
        live_server = live.server(server.name)
        for model in server.models:
            model_dir = live_server.model_dir(model.name) if live_server else None
            for version, vspec in model.versions.items():
                if vspec.source is None:
                    continue
                problem = _exists(vspec.source)
                fingerprint = None
                exported = model_dir.export_record(version) if model_dir else None
                missing = model_dir is None or model_dir.version(version) is None
                if problem is None and (exported is not None or missing):
                    from tfsctl.live.fingerprint import fingerprint_source

                    try:
                        fingerprint = fingerprint_source(vspec.source)
                    except OSError as exc:  # unreadable, or a special file: a plan error
                        problem = f"cannot read the source: {exc}"
                size = _tree_size(vspec.source.saved_model) if (
                    problem is None and server.runtime_options.resources.memory is not None
                    and isinstance(vspec.source, SavedModelSource)) else None
                observations[(server.name, model.name, version)] = SourceObservation(
                    exists=problem is None, problem=problem, fingerprint=fingerprint,
                    size_bytes=size)
    return observations
