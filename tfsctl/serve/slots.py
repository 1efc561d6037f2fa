"""What the model manager keeps per model and version, and the rules it applies: the
version policy's choice, a base path's version dirs, ServerCore's checks on a config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tfsctl.live.state import VersionState
from tfsctl.serverconfig.model_config import ModelEntry, PolicyKind, VersionPolicy
from tfsctl.servingapi.status import ServingError, invalid

SUPPORTED_PLATFORM = "tensorflow"


@dataclass
class VersionSlot:
    version: int
    path: str
    state: VersionState = VersionState.START
    error: ServingError | None = None
    loaded: Any = None
    stamp: float = 0.0  # the dir's mtime when the load was tried
    users: int = 0  # requests running on `loaded`

    @property
    def error_code(self) -> str:
        return self.error.code.name if self.error else "OK"

    @property
    def error_message(self) -> str:
        return self.error.message if self.error else ""


@dataclass
class ModelSlot:
    entry: ModelEntry
    versions: dict[int, VersionSlot] = field(default_factory=dict)
    removed: bool = False
    unlisted: bool = False  # the last poll could not list the base path

    @property
    def name(self) -> str:
        return self.entry.name

    def available(self) -> list[VersionSlot]:
        return sorted((v for v in self.versions.values() if v.state is VersionState.AVAILABLE),
                      key=lambda v: v.version)


def select(policy: VersionPolicy, found: list[int]) -> set[int]:
    if policy.kind is PolicyKind.ALL:
        return set(found)
    if policy.kind is PolicyKind.SPECIFIC:
        return set(policy.specific) & set(found)
    return set(sorted(found)[-policy.latest:])


def scan(base_path: str) -> dict[int, tuple[str, float]]:
    """Version dirs under `base_path`: number -> (path, mtime). Other names are ignored, and
    so is a version dir that vanishes while it is listed. Raises OSError when the base path
    cannot be listed (missing, unreadable, or the process out of file descriptors): that
    says nothing about which versions exist, so the caller keeps what it serves, as TF
    Serving's file-system source keeps the aspired versions of a base path that is missing
    or transiently unavailable."""
    found: dict[int, tuple[str, float]] = {}
    with os.scandir(base_path) as entries:
        for entry in entries:
            if entry.name.isdigit() and int(entry.name) not in found:
                try:
                    if entry.is_dir():
                        found[int(entry.name)] = (entry.path, entry.stat().st_mtime)
                except OSError:
                    continue
    return found


def validate(entries: tuple[ModelEntry, ...], current: dict[str, ModelSlot]) -> None:
    """ServerCore's checks on a model_config_list (INVALID_ARGUMENT)."""
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise invalid(f"Illegal to list model {entry.name} multiple times in config list")
        seen.add(entry.name)
        if "://" not in entry.base_path and not os.path.isabs(entry.base_path):
            raise invalid(f"Expected model {entry.name} to have an absolute path or URI; got "
                          f"base_path()={entry.base_path}")
    for entry in entries:
        old = current.get(entry.name)
        if old is not None and not old.removed and old.entry.platform != entry.platform:
            raise invalid(f"Illegal to change a model's platform. For model {entry.name} platform "
                          f"was {old.entry.platform} and new platform requested is {entry.platform}")
        if entry.platform != SUPPORTED_PLATFORM:
            raise invalid(f"Model {entry.name} requests unsupported platform {entry.platform}")
