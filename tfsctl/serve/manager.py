"""Which versions are loaded: TF Serving's model manager, in small.

Each model's base path is polled for integer-named version dirs; its version
policy picks the aspired versions; aspired versions are loaded, and the others
unloaded *after* an aspired one is AVAILABLE (TF Serving's availability-
preserving policy: a version change never leaves a model with nothing to
serve). A version that fails to load ends in state END with its error and is
not retried until its directory changes; it does not affect the others.

A new config (`set_config`, from a reload) replaces the whole model list:
models no longer listed are unloaded, labels are validated against the
versions AVAILABLE right now (unless the server allows labels on unavailable
versions), and a rejected config changes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tfsctl.live.state import VersionState
from tfsctl.serverconfig.model_config import ModelEntry, PolicyKind, VersionPolicy

log = logging.getLogger("tfsctl.serve")


class NotFound(LookupError):
    pass


class FailedPrecondition(RuntimeError):
    pass


@dataclass
class VersionSlot:
    version: int
    path: str
    state: VersionState = VersionState.START
    error: str = ""
    loaded: Any = None
    stamp: float = 0.0  # the dir's mtime when the load was tried

    @property
    def error_code(self) -> str:
        return "UNKNOWN" if self.error else "OK"


@dataclass
class ModelSlot:
    entry: ModelEntry
    versions: dict[int, VersionSlot] = field(default_factory=dict)
    removed: bool = False

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
    """Version dirs under `base_path`: number -> (path, mtime)."""
    found: dict[int, tuple[str, float]] = {}
    try:
        entries = list(os.scandir(base_path))
    except OSError:
        return found
    for entry in entries:
        if entry.name.isdigit() and entry.is_dir():
            number = int(entry.name)
            if number not in found:
                found[number] = (entry.path, entry.stat().st_mtime)
    return found


class ModelManager:
    def __init__(self, load: Callable[[str], Any], *, allow_unavailable_labels: bool = False):
        self._load = load
        self._allow_unavailable_labels = allow_unavailable_labels
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._models: dict[str, ModelSlot] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ config

    def set_config(self, entries: tuple[ModelEntry, ...]) -> None:
        names = [e.name for e in entries]
        if len(set(names)) != len(names):
            raise ValueError("Illegal to list model " + next(
                n for n in names if names.count(n) > 1) + " multiple times in config list")
        with self._lock:
            if not self._allow_unavailable_labels:
                for entry in entries:
                    slot = self._models.get(entry.name)
                    ready = {v.version for v in slot.available()} if slot else set()
                    for _label, version in entry.labels:
                        if version not in ready:
                            raise FailedPrecondition(
                                f"Request to assign label to version {version} of model "
                                f"{entry.name}, which is not currently available for inference")
            for entry in entries:
                slot = self._models.get(entry.name)
                if slot is None:
                    self._models[entry.name] = ModelSlot(entry)
                else:
                    slot.entry, slot.removed = entry, False
            for name, slot in self._models.items():
                if name not in names:
                    slot.removed = True
        self.poll()

    # ------------------------------------------------------------ polling

    def poll(self) -> None:
        """One pass: load aspired versions, then unload the ones no longer aspired."""
        with self._poll_lock:
            with self._lock:
                slots = list(self._models.values())
            for slot in slots:
                self._converge(slot)

    def _converge(self, slot: ModelSlot) -> None:
        found = {} if slot.removed else scan(slot.entry.base_path)
        aspired = select(slot.entry.policy, list(found))
        for version in sorted(aspired, reverse=True):
            path, mtime = found[version]
            with self._lock:
                current = slot.versions.get(version)
                if current and current.state is VersionState.AVAILABLE:
                    continue
                if current and current.error and current.stamp == mtime:
                    continue  # failed before and unchanged since: do not retry
                current = VersionSlot(version, path, VersionState.LOADING, stamp=mtime)
                slot.versions[version] = current
            log.info("loading %s version %d from %s", slot.name, version, path)
            try:
                loaded = self._load(path)
            except Exception as exc:  # noqa: BLE001 - a bad version must not stop the server
                log.error("%s version %d failed to load: %s", slot.name, version, exc)
                with self._lock:
                    current.state, current.error = VersionState.END, str(exc)
                continue
            with self._lock:
                current.loaded, current.state = loaded, VersionState.AVAILABLE
            log.info("%s version %d is AVAILABLE", slot.name, version)
        with self._lock:
            serving_aspired = any(slot.versions.get(v) and slot.versions[v].state is
                                  VersionState.AVAILABLE for v in aspired)
            retire = [v for v in slot.versions.values() if v.version not in aspired
                      and v.state is VersionState.AVAILABLE
                      and (serving_aspired or not aspired or slot.removed)]
            for version in retire:
                version.state = VersionState.UNLOADING
        for version in retire:
            log.info("unloading %s version %d", slot.name, version.version)
            if version.loaded is not None:
                version.loaded.close()
            with self._lock:
                version.loaded, version.state = None, VersionState.END

    def start_polling(self, interval: float) -> None:
        if interval <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                self.poll()

        self._thread = threading.Thread(target=loop, name="fs-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for slot in self._models.values():
                for version in slot.versions.values():
                    if version.loaded is not None:
                        version.loaded.close()
                        version.loaded = None

    # ------------------------------------------------------------ lookups

    def models(self) -> list[ModelSlot]:
        with self._lock:
            return list(self._models.values())

    def status(self, name: str, version: int | None = None) -> list[VersionSlot]:
        with self._lock:
            slot = self._models.get(name)
            if slot is None or not slot.versions:
                raise NotFound(f"Could not find any versions of model {name}")
            if version is None:
                return sorted(slot.versions.values(), key=lambda v: -v.version)
            if version not in slot.versions:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [slot.versions[version]]

    def resolve(self, name: str, version: int | None = None, label: str | None = None
                ) -> tuple[ModelSlot, VersionSlot]:
        """The version a request means: explicit, by label, or the newest AVAILABLE."""
        with self._lock:
            slot = self._models.get(name)
            if slot is None or slot.removed:
                raise NotFound(f"Servable not found for request: Latest({name})")
            if label is not None:
                labels = slot.entry.label_map
                if label not in labels:
                    raise NotFound(f"Unrecognized servable version label: {label}")
                version = labels[label]
            if version is None:
                available = slot.available()
                if not available:
                    raise NotFound(f"Servable not found for request: Latest({name})")
                return slot, available[-1]
            found = slot.versions.get(version)
            if found is None or found.state is not VersionState.AVAILABLE:
                raise NotFound(f"Servable not found for request: Specific({name}, {version})")
            return slot, found
