"""The live state of a server, as observed: plain frozen data, no behaviour.

Observers (`tfsctl.live.observe`) fill these in, read-only, once per command
(SQLMesh's "read all state once" idea); the planner only reads them. An engine
or server that cannot be reached is a state (`RuntimeStatus.UNREACHABLE`,
`ServerReport.reachable=False`), never an exception, so `plan` always has an
answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from tfsctl.runtimes.base import RuntimeState, RuntimeStatus
from tfsctl.runtimes.gateway import GatewayState
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model_spec import SmokeTest

__all__ = ["RuntimeState", "RuntimeStatus"]  # part of the live state; defined by the runtimes


@dataclass(frozen=True)
class VersionDir:
    """One integer-named directory under a model's base path."""

    version: int
    name: str  # the directory's own name, e.g. "00000123"
    complete: bool
    problem: str | None = None  # why it is not complete ("no saved_model.pb", ...)
    fingerprint: str | None = None  # content hash; None when not computed
    size_bytes: int | None = None  # the files' total size; None when not computed


@dataclass(frozen=True)
class ExportRecord:
    """What tfsctl recorded when it exported a version (to catch changed sources)."""

    version: int
    source_kind: str
    source_path: str
    source_fingerprint: str


@dataclass(frozen=True)
class ModelDir:
    """A model's base path on the host."""

    base_path: Path
    exists: bool
    versions: tuple[VersionDir, ...] = ()
    ignored: tuple[str, ...] = ()  # entries that are not version dirs (reported, not served)
    temporary: tuple[str, ...] = ()  # leftovers of an interrupted export (.tfsctl-tmp-*)
    exports: tuple[ExportRecord, ...] = ()
    escapes_root: str | None = None  # set when a symlink leads outside the model root

    def version(self, number: int) -> VersionDir | None:
        return next((v for v in self.versions if v.version == number), None)

    def export_record(self, number: int) -> ExportRecord | None:
        return next((r for r in self.exports if r.version == number), None)


@dataclass(frozen=True)
class ConfigFile:
    """A file the server reads (model.config, batching, monitoring) as it is on disk."""

    path: Path
    exists: bool
    text: str | None = None
    entries: tuple[ModelEntry, ...] | None = None  # model.config only, when it parses
    error: str | None = None  # unreadable or unparsable


class VersionState(StrEnum):
    """TensorFlow Serving's ModelVersionStatus.State."""

    UNKNOWN = "UNKNOWN"
    START = "START"
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    UNLOADING = "UNLOADING"
    END = "END"


@dataclass(frozen=True)
class ServedVersion:
    version: int
    state: VersionState
    error_code: str = "OK"
    error_message: str = ""


@dataclass(frozen=True)
class ServedModel:
    name: str
    versions: tuple[ServedVersion, ...] = ()
    error: str | None = None  # e.g. NOT_FOUND: the server does not know the model

    def state_of(self, version: int) -> VersionState | None:
        found = next((v for v in self.versions if v.version == version), None)
        return found.state if found else None


@dataclass(frozen=True)
class ServerReport:
    """What the running server says about the models it was asked about (REST status)."""

    reachable: bool
    endpoint: str = ""
    models: tuple[ServedModel, ...] = ()
    error: str | None = None

    def model(self, name: str) -> ServedModel | None:
        return next((m for m in self.models if m.name == name), None)


@dataclass(frozen=True)
class LastApplied:
    """The last successful apply recorded in the server's state dir (for drift)."""

    sequence: int
    applied_at: str
    spec_digest: str
    model_config_text: str
    runtime_config_hash: str | None
    #: the last measured gap when an apply (re)started this server, and when that was
    start_gap_seconds: float | None = None
    start_gap_measured_at: str | None = None
    #: the smoke requests that apply verified, as its plan recorded them (model -> request
    #: bodies): what a rollback to this state checks before it says "restored"
    smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...] = ()


@dataclass(frozen=True)
class LiveServer:
    name: str
    model_dirs: tuple[tuple[str, ModelDir], ...]  # by model name, spec order
    model_config: ConfigFile
    side_files: tuple[tuple[str, ConfigFile], ...]  # batching.config, monitoring.config
    runtime: RuntimeState
    report: ServerReport
    last_applied: LastApplied | None = None
    unmanaged_models: tuple[str, ...] = ()  # dirs in the model root the spec does not name
    #: an apply that was killed and not yet undone (its journal is still there): who and when
    interrupted_apply: str | None = None

    @cached_property
    def _model_dirs_by_name(self) -> dict[str, ModelDir]:
        return dict(self.model_dirs)

    def model_dir(self, name: str) -> ModelDir | None:
        return self._model_dirs_by_name.get(name)

    def side_file(self, name: str) -> ConfigFile | None:
        return dict(self.side_files).get(name)


@dataclass(frozen=True)
class LiveGateway:
    """What runs a gateway of a server, as its runtime reports it; the gateways of the
    observed servers, those the spec names and those it no longer does."""

    name: str
    server: str
    state: GatewayState


#: (gateway name, sha256 of its handler file as it is now, None: unreadable), spec order
HandlerDigests = tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class LiveState:
    servers: tuple[LiveServer, ...] = field(default_factory=tuple)
    gateways: tuple[LiveGateway, ...] = field(default_factory=tuple)

    def server(self, name: str) -> LiveServer | None:
        return next((s for s in self.servers if s.name == name), None)

    def fingerprint(self, spec_dir: str | None = None, anchor: str | None = None,
                    handlers: HandlerDigests = ()) -> str:
        """A hash of everything plan depends on, so a saved plan can refuse stale state:
        the servers, what runs their gateways, and the content of the gateways' handler
        files (`handlers`: a handler edited after the plan makes it stale).

        Server-reported load states are left out: they change as a server
        loads, without anything a plan decided being different. The spec's
        directory, then its anchor (its repository, `tfsctl.anchor`), are hashed
        as placeholders wherever a path starts with them, so the same state in
        another checkout has the same fingerprint: plans are byte-identical
        across clones, and a plan made from a snapshot matches the machine the
        snapshot came from.
        """
        # repr of frozen dataclasses is deterministic and much cheaper than asdict + JSON
        payload = repr([replace(s, report=ServerReport(False)) for s in self.servers])
        if self.gateways or handlers:  # the servers-only hash of a spec without gateways
            payload += repr((self.gateways, handlers))
        for root, token in ((spec_dir, "$SPEC_DIR"), (anchor, "$ANCHOR")):
            if root:
                payload = re.sub(re.escape(root.rstrip("/")) + r"(?=[/'\"\\]|$)", token, payload)
        return hashlib.sha256(payload.encode()).hexdigest()
