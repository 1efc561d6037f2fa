"""What a container is to tfsctl, as data: the labels it is stamped with, the spec it is
created from, and what observing it reads back (containers.py does the engine calls).

The labels are docker-compose's idea without a state file: `io.tfsctl.managed` (tfsctl
may touch it), `io.tfsctl.server` (the spec's server it runs: observing is a label
query), `io.tfsctl.config-hash` (does it still match the spec? a string comparison) and
`io.tfsctl.settings` (the settings themselves, secret values only as digests, so a plan
can name the setting that changed). Swarm services carry the same ones (services.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MANAGED_LABEL = "io.tfsctl.managed"
SERVER_LABEL = "io.tfsctl.server"
CONFIG_HASH_LABEL = "io.tfsctl.config-hash"
SETTINGS_LABEL = "io.tfsctl.settings"

@dataclass(frozen=True)
class PortBinding:
    """Publish ``container_port`` (TCP) on ``host_ip:host_port``; host_port 0 lets the engine pick."""

    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path; read-only by default, as model roots should be."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a server's container is created from; pure data, no engine needed.

    ``args`` follow the image's entrypoint (its CMD is replaced). ``config_hash`` and
    ``settings`` are computed by the caller from the spec (see runtimes/desired.py) and
    stamped as labels.
    """

    name: str
    server: str
    image: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(repr=False)
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    config_hash: str
    settings: str = "{}"  # JSON
    cpus: float | None = None
    memory_bytes: int | None = None
    #: a network to attach to instead of the default bridge (e.g. a swarm's overlay)
    network: str | None = None

    def labels(self) -> dict[str, str]:
        return {MANAGED_LABEL: "true", SERVER_LABEL: self.server, CONFIG_HASH_LABEL: self.config_hash,
                SETTINGS_LABEL: self.settings}


class ContainerStatus(StrEnum):
    """The engine's State.Status, plus UNKNOWN for anything a newer engine may add."""

    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"
    REMOVING = "removing"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ObservedContainer:
    """What the engine says about one tfsctl-managed container (read-only snapshot)."""

    id: str
    name: str
    status: ContainerStatus
    config_hash: str | None
    settings: dict[str, Any] | None
    image_id: str
    exit_code: int | None = None
    #: restarts under the restart policy: a count that grows means a crash loop
    restart_count: int = 0

    @property
    def running(self) -> bool:
        return self.status in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING)


def observed(container: Any) -> ObservedContainer:
    attrs = container.attrs
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    state = attrs.get("State") or {}
    try:
        status = ContainerStatus(state.get("Status", "unknown"))
    except ValueError:
        status = ContainerStatus.UNKNOWN
    try:
        settings = json.loads(labels[SETTINGS_LABEL])
    except (KeyError, ValueError):
        settings = None  # made before settings were stamped
    return ObservedContainer(
        id=container.id, name=container.name, status=status,
        config_hash=labels.get(CONFIG_HASH_LABEL),
        settings=settings if isinstance(settings, dict) else None,
        image_id=str(attrs.get("Image", "")),
        exit_code=(state.get("ExitCode") if status in (ContainerStatus.EXITED, ContainerStatus.DEAD)
                   else None),
        restart_count=int(attrs.get("RestartCount") or 0))
