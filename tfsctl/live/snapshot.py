"""Live-state snapshots: observed once where the servers are, planned against anywhere.

`tfsctl status --snapshot FILE` writes the live state it observed (docs/live-snapshot.md);
`tfsctl plan --live FILE` reads it on a machine that cannot reach the engine or
the server (a pull request's CI job) and plans against it. The file is the
`LiveState` itself, field for field, so a plan made from it has the same live
fingerprint as a plan made where the snapshot was taken: `tfsctl apply PLANFILE`
still observes the live state itself and refuses the plan if anything moved.

Two things cannot travel as observed and are recorded beside the state:
- where the spec was (`spec.path`): the plan loads the new spec as if it were
  there, so host paths, model.config base paths and runtime hashes compare
  like for like;
- secret values: a runtime's hash includes them, and the job that plans has
  none. When the running server has exactly its spec's settings, the snapshot
  records the hash of those settings with secrets left blank
  (`runtime_settings_hash`), which the planner compares with the new spec's,
  computed the same way.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel

from tfsctl import __version__
from tfsctl.errors import TfsctlError
from tfsctl.jsondoc import read_document
from tfsctl.live.state import LiveGateway, LiveServer, LiveState, RuntimeStatus
from tfsctl.runtimes.desired import desired_runtime
from tfsctl.spec.load import LoadedSpec

SNAPSHOT_KIND = "tfsctl-live-snapshot"
#: Bumped when the snapshot's JSON changes incompatibly (docs/live-snapshot.md).
SNAPSHOT_FORMAT_VERSION = 1

_RESNAPSHOT = "take a new one where the servers are: `tfsctl status -f SPEC --snapshot FILE`"


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(hint: Any) -> Any:
    """`X | None` -> X; anything else unchanged."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _pair_value(hint: Any) -> Any | None:
    """Y for `tuple[tuple[str, Y], ...]` (written as a JSON object), else None."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        inner = typing.get_args(item)
        if typing.get_origin(item) is tuple and len(inner) == 2 and inner[0] is str:
            return inner[1]
    return None


def encode(value: Any, hint: Any) -> Any:
    """A frozen dataclass tree as JSON data, driven by its type hints."""
    if value is None:
        return None
    hint = _split_optional(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = _hints(hint)
        return {f.name: encode(getattr(value, f.name), hints[f.name])
                for f in dataclasses.fields(hint) if f.init}
    pair = _pair_value(hint)
    if pair is not None:
        return {key: encode(item, pair) for key, item in value}
    if typing.get_origin(hint) is tuple:
        return [encode(item, typing.get_args(hint)[0]) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def decode(data: Any, hint: Any, where: str) -> Any:
    """The inverse of `encode`; unknown keys are ignored (newer tfsctl, additive fields)."""
    if data is None:
        return None
    hint = _split_optional(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object")
        hints, values = _hints(hint), {}
        for f in dataclasses.fields(hint):
            if f.init and f.name in data:
                values[f.name] = decode(data[f.name], hints[f.name], f"{where}.{f.name}")
            elif f.init and f.default is dataclasses.MISSING and \
                    f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: no {f.name!r}")
        return hint(**values)
    pair = _pair_value(hint)
    if pair is not None:
        return tuple((str(k), decode(v, pair, f"{where}.{k}")) for k, v in data.items())
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(decode(v, item, f"{where}[{i}]") for i, v in enumerate(data))
    if isinstance(hint, type) and issubclass(hint, (Enum, PurePath)):
        return hint(data)
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return hint.model_validate(data)
    if hint in (str, int, float, bool) and not isinstance(data, hint):
        if hint is float and isinstance(data, int):
            return float(data)
        raise ValueError(f"{where}: expected {hint.__name__}, got {type(data).__name__}")
    return data


def settings_hash(loaded: LoadedSpec, live: LiveServer, secrets: Mapping[str, str]) -> str | None:
    """The runtime's settings without secret values, if it runs exactly its spec's settings."""
    server = loaded.spec.server(live.name)
    if server is None or live.runtime.config_hash is None:
        return None
    desired = desired_runtime(server)
    if desired.config_hash(secrets) != live.runtime.config_hash:
        return None
    return desired.config_hash({})


def snapshot_document(loaded: LoadedSpec, live: LiveState, secrets: Mapping[str, str],
                      taken_at: datetime) -> dict[str, Any]:
    """The snapshot of `live`, observed for `loaded`; refuses a state that says nothing."""
    unreachable = [s.name for s in live.servers if s.runtime.status is RuntimeStatus.UNREACHABLE]
    if unreachable:
        raise TfsctlError(f"cannot snapshot {', '.join(map(repr, unreachable))}: the Docker "
                          "engine did not answer, so the snapshot would not say what runs",
                          "take the snapshot where the engine is reachable (the deploy job)")
    servers = []
    for server in live.servers:
        data = encode(server, LiveServer)
        data["runtime_settings_hash"] = settings_hash(loaded, server, secrets)
        servers.append(data)
    return {
        "kind": SNAPSHOT_KIND,
        "format_version": SNAPSHOT_FORMAT_VERSION,
        "tfsctl_version": __version__,
        "taken_at": taken_at.astimezone(UTC).isoformat(timespec="seconds"),
        "spec": {"path": str(loaded.file.resolve()), "digest": loaded.digest,
                 "environment": loaded.environment},
        "servers": servers,
        "gateways": [encode(g, LiveGateway) for g in live.gateways],
    }


def write_snapshot(path: Path, document: Mapping[str, Any]) -> None:
    """Atomically: a snapshot is either complete or not there."""
    from tfsctl.atomic import write_atomic

    write_atomic(Path(path), json.dumps(document, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Snapshot:
    """A snapshot as read back: the state, and what it was observed for."""

    state: LiveState
    taken_at: datetime
    spec_path: Path  # the spec's absolute path where the snapshot was taken
    environment: str | None
    settings_hashes: Mapping[str, str]  # server -> runtime_settings_hash, where recorded

    def age_seconds(self, now: datetime) -> int:
        return max(0, int((now - self.taken_at).total_seconds()))


def read_snapshot(path: Path) -> Snapshot:
    """Read and check a snapshot file; TfsctlError saying what is wrong and how to fix it."""
    data = read_document(path, kind=SNAPSHOT_KIND, what="snapshot",
                         description="a tfsctl live-state snapshot", hint=_RESNAPSHOT)
    if data.get("format_version") != SNAPSHOT_FORMAT_VERSION:
        raise TfsctlError(f"snapshot {path} has format version {data.get('format_version')!r} "
                          f"(written by tfsctl {data.get('tfsctl_version', 'unknown')}); this "
                          f"tfsctl {__version__} reads version {SNAPSHOT_FORMAT_VERSION}",
                          _RESNAPSHOT)
    try:
        servers = data["servers"]
        state = LiveState(tuple(decode(s, LiveServer, f"servers[{i}]")
                                for i, s in enumerate(servers)),
                          tuple(decode(g, LiveGateway, f"gateways[{i}]")
                                for i, g in enumerate(data.get("gateways", ()))))
        hashes = {s["name"]: s["runtime_settings_hash"] for s in servers
                  if s.get("runtime_settings_hash")}
        taken_at = datetime.fromisoformat(data["taken_at"])
        if taken_at.tzinfo is None:
            raise ValueError("taken_at has no time zone")
        return Snapshot(state, taken_at, Path(data["spec"]["path"]), data["spec"]["environment"],
                        hashes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise TfsctlError(f"snapshot {path} is malformed: {detail}", _RESNAPSHOT) from None
