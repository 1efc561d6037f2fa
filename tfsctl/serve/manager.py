"""Which versions are loaded: TF Serving's ServerCore and model manager, in small.

Each model's base path is polled for integer-named version dirs; its version
policy picks the aspired versions; aspired versions are loaded (newest first,
retried `max_load_retries` times as TF Serving does), and the others unloaded
*after* an aspired one is AVAILABLE (the availability-preserving policy: a
version change never leaves a model with nothing to serve). A version that
fails to load ends in state END with its error and is not retried until its
directory changes; it does not affect the others. An unloaded version's
session is closed only once the requests using it have finished.

A new config (`set_config`, from start-up, a reload or the polled config
file) replaces the whole model list, as ServerCore::ReloadConfig does: it is
validated, its labels are checked against the versions AVAILABLE right now
(a rejected config changes nothing), models no longer listed are unloaded,
and the call returns once every *new* model's newest version has loaded or
failed — a failure is reported as TF Serving reports it, while the rest of
the config stays applied. Loads and unloads run on the manager's own thread,
so, as in TF Serving, a reload does not wait for new versions of models it
already had, nor for removed models to unload.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from tfsctl.live.state import VersionState
from tfsctl.serve.slots import ModelSlot, VersionSlot, scan, select, validate
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.servingapi.status import Code, ServingError, invalid

log = logging.getLogger("tfsctl.serve")

class ModelManager:
    def __init__(self, load: Callable[[str], Any], *, allow_unavailable_labels: bool = False,
                 max_load_retries: int = 5, load_retry_interval: float = 60.0,
                 stop: threading.Event | None = None):
        self._load = load
        self._allow_unavailable_labels = allow_unavailable_labels
        self._max_load_retries = max(0, max_load_retries)
        self._retry_interval = max(0.0, load_retry_interval)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a version's state or users changed
        self._wake = threading.Event()
        self._converging = threading.Lock()
        self._config_lock = threading.Lock()
        self._models: dict[str, ModelSlot] = {}
        self._labels: dict[str, dict[str, int]] = {}
        #: set by stop(), or by whoever passed it in (the server's shutdown event): retries
        #: and the wait for the first versions end, and the manager's thread returns
        self._stop = stop or threading.Event()

    # ------------------------------------------------------------ config

    def set_config(self, entries: tuple[ModelEntry, ...]) -> None:
        """Apply a whole new model list; raises ServingError as ServerCore::ReloadConfig does."""
        with self._config_lock:
            with self._lock:
                validate(entries, self._models)
                self._labels = self._checked_labels(entries)
                new = [e.name for e in entries if e.name not in self._models
                       or self._models[e.name].removed]
                names = {e.name for e in entries}
                for entry in entries:
                    slot = self._models.setdefault(entry.name, ModelSlot(entry))
                    slot.entry, slot.removed = entry, False
                for name, slot in self._models.items():
                    slot.removed = name not in names
            self._wake.set()  # loads and unloads happen on the manager's thread
            self._await_models(new)

    def _checked_labels(self, entries: tuple[ModelEntry, ...]) -> dict[str, dict[str, int]]:
        labels: dict[str, dict[str, int]] = {}
        for entry in entries:
            slot = self._models.get(entry.name)
            ready = {v.version for v in slot.available()} if slot else set()
            for label, version in entry.labels:
                # With the flag, a label may name an unavailable version unless that moves an
                # existing label to a different version (TF Serving's rule).
                moved = self._labels.get(entry.name, {}).get(label, version) != version
                allowed = self._allow_unavailable_labels and not moved
                if version not in ready and not allowed:
                    raise ServingError(Code.FAILED_PRECONDITION,
                                       f"Request to assign label to version {version} of model "
                                       f"{entry.name}, which is not currently available for "
                                       "inference")
                labels.setdefault(entry.name, {})[label] = version
        return labels

    def _await_models(self, names: list[str]) -> None:
        """Wait until each model's newest version is AVAILABLE or END (forever if it has none,
        as TF Serving does); raise UNKNOWN listing the ones that did not become available."""
        failed = []
        for name in names:
            slot = self._models[name]
            with self._lock:
                while not self._stop.is_set():
                    newest = max(slot.versions.values(), key=lambda v: v.version, default=None)
                    if newest is not None and newest.state in (VersionState.AVAILABLE,
                                                               VersionState.END):
                        break
                    if not self._changed.wait(timeout=1.0) and newest is None:
                        log.warning("No versions of servable %s found under base path %s. Did "
                                    "you forget to name your leaf directory as a number (eg. "
                                    "'/1/')?", name, slot.entry.base_path)
                        self._wake.set()
                else:
                    return
            if newest.state is not VersionState.AVAILABLE:
                detail = f" due to error: {newest.error.with_code()}" if newest.error else ""
                failed.append(f"{{{{name: {name} version: {newest.version}}}{detail}}}, ")
        if failed:
            raise ServingError(Code.UNKNOWN, f"{len(failed)} model(s) did not become available: "
                                             f"{{{''.join(failed)}}}")

    # ------------------------------------------------------------ polling

    def poll(self) -> None:
        """One pass: load aspired versions, then unload the ones no longer aspired."""
        with self._converging:
            with self._lock:
                slots = list(self._models.values())
            for slot in slots:
                self._converge(slot)

    def _converge(self, slot: ModelSlot) -> None:
        try:
            found = {} if slot.removed else scan(slot.entry.base_path)
        except OSError as exc:
            if not slot.unlisted:
                log.warning("Cannot list base path %s of servable %s (%s); keeping its versions "
                            "until it can be listed", slot.entry.base_path, slot.name,
                            exc.strerror or exc)
            slot.unlisted = True
            return
        if slot.unlisted:
            log.info("Base path %s of servable %s can be listed again", slot.entry.base_path,
                     slot.name)
            slot.unlisted = False
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
                self._changed.notify_all()
            self._load_version(slot, current)
        with self._lock:
            serving_aspired = any(slot.versions.get(v) and slot.versions[v].state is
                                  VersionState.AVAILABLE for v in aspired)
            retire = [v for v in slot.versions.values() if v.version not in aspired
                      and v.state is VersionState.AVAILABLE
                      and (serving_aspired or not aspired or slot.removed)]
            for retired in retire:
                retired.state = VersionState.UNLOADING
        for retired in retire:
            self._unload(slot, retired)

    def _load_version(self, slot: ModelSlot, current: VersionSlot) -> None:
        log.info("Loading servable version {name: %s version: %d} from %s", slot.name,
                 current.version, current.path)
        error = ServingError(Code.CANCELLED, "Load cancelled")
        for attempt in range(self._max_load_retries + 1):
            if attempt and (self._stop.wait(self._retry_interval) or slot.removed
                            or not os.path.isdir(current.path)):
                break
            try:
                loaded = self._load(current.path)
            except ServingError as exc:
                log.error("Loading servable {name: %s version: %d} failed: %s", slot.name,
                          current.version, exc.with_code())
                error = exc
                continue
            with self._lock:
                current.loaded, current.state = loaded, VersionState.AVAILABLE
                self._changed.notify_all()
            log.info("Successfully loaded servable version {name: %s version: %d}", slot.name,
                     current.version)
            return
        # While retrying, the version reads LOADING with an OK status, as in TF Serving; the
        # error shows only once it has given up.
        with self._lock:
            current.state, current.error = VersionState.END, error
            self._changed.notify_all()

    def _unload(self, slot: ModelSlot, version: VersionSlot) -> None:
        with self._lock:
            while version.users:
                self._changed.wait()
            loaded, version.loaded = version.loaded, None
        if loaded is not None:
            loaded.close()
        with self._lock:
            version.state = VersionState.END
            self._changed.notify_all()
        log.info("Unloaded servable version {name: %s version: %d}", slot.name, version.version)

    def start(self, poll_interval: float) -> None:
        """The manager's thread: a pass whenever the config changes, and every `poll_interval`
        seconds (TF Serving polls the file system only once when it is 0 or less)."""
        def loop() -> None:
            while True:
                self._wake.wait(poll_interval if poll_interval > 0 else None)
                self._wake.clear()
                if self._stop.is_set():
                    return
                self.poll()

        threading.Thread(target=loop, name="model-manager", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._converging, self._lock:
            for slot in self._models.values():
                for version in slot.versions.values():
                    if version.loaded is not None:
                        version.loaded.close()
                        version.loaded = None

    # ------------------------------------------------------------ lookups

    def models(self) -> list[ModelSlot]:
        with self._lock:
            return list(self._models.values())

    def status(self, name: str, version: int | None = None) -> list[tuple[int, str, str, str]]:
        """(version, state, error code, message) rows, newest first, as GetModelStatus reports."""
        with self._lock:
            slot = self._models.get(name)
            versions = slot.versions if slot else {}
            if version is not None:
                if version not in versions:
                    raise ServingError(Code.NOT_FOUND,
                                       f"Could not find version {version} of model {name}")
                chosen = [versions[version]]
            else:
                if not versions:
                    raise ServingError(Code.NOT_FOUND, f"Could not find any versions of model {name}")
                chosen = sorted(versions.values(), key=lambda v: -v.version)
            return [(v.version, v.state.value, v.error_code, v.error_message) for v in chosen]

    @contextlib.contextmanager
    def serving(self, name: str, version: int | None = None, label: str | None = None
                ) -> Iterator[VersionSlot]:
        """The version a request means (explicit, by label, or the newest AVAILABLE), held so
        that it is not unloaded while the request uses it."""
        with self._lock:
            if label is not None:
                labels = self._labels.get(name, {})
                if label not in labels:
                    raise invalid(f"Unrecognized servable version label: {label}")
                version = labels[label]
            slot = self._models.get(name)
            chosen = None
            if slot is not None and not slot.removed:
                if version is None:
                    available = slot.available()
                    chosen = available[-1] if available else None
                else:
                    found = slot.versions.get(version)
                    chosen = found if found and found.state is VersionState.AVAILABLE else None
            if chosen is None:
                request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
                raise ServingError(Code.NOT_FOUND, f"Servable not found for request: {request}")
            chosen.users += 1
        try:
            yield chosen
        finally:
            with self._lock:
                chosen.users -= 1
                self._changed.notify_all()
