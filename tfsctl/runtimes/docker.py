"""The Docker runtime: one container per server, found by label, stamped with a hash.

docker-compose's approach, without a state file: every container tfsctl
creates carries `io.tfsctl.server=<name>` and `io.tfsctl.config-hash=<hash>`,
so observing is a label query and "does it still match the spec" is a string
comparison. A replacement never leaves the team without a server: the new
container is created and started while the old one is kept (stopped and
renamed aside), and `Replacement.rollback()` brings the old one back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tfsctl.errors import TfsctlError

MANAGED_LABEL = "io.tfsctl.managed"
SERVER_LABEL = "io.tfsctl.server"
CONFIG_HASH_LABEL = "io.tfsctl.config-hash"


class EngineUnavailable(TfsctlError):
    """The Docker engine did not answer; plan treats it as a live state."""


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    server: str
    image: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    config_hash: str
    cpus: float | None = None
    memory_bytes: int | None = None


class ContainerStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"
    REMOVING = "removing"


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str
    server: str
    image: str
    status: ContainerStatus
    config_hash: str | None
    exit_code: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


def _observed(container: Any) -> ObservedContainer:
    attrs = container.attrs
    labels = attrs.get("Config", {}).get("Labels") or {}
    state = attrs.get("State", {})
    try:
        status = ContainerStatus(state.get("Status", "exited"))
    except ValueError:
        status = ContainerStatus.DEAD
    return ObservedContainer(
        id=container.id[:12], name=container.name, server=labels.get(SERVER_LABEL, ""),
        image=attrs.get("Config", {}).get("Image", ""), status=status,
        config_hash=labels.get(CONFIG_HASH_LABEL), exit_code=state.get("ExitCode"),
        labels=dict(labels))


class Replacement:
    """A container swap that can still be undone: the old container waits, stopped."""

    def __init__(self, runtime: DockerRuntime, new: Any, old: Any | None, old_name: str):
        self.runtime, self.new, self.old, self.old_name = runtime, new, old, old_name

    def commit(self) -> None:
        if self.old is not None:
            with contextlib.suppress(Exception):
                self.old.remove(force=True)

    def rollback(self) -> None:
        with contextlib.suppress(Exception):
            self.new.remove(force=True)
        if self.old is not None:
            self.old.rename(self.old_name)
            self.old.start()


class DockerRuntime:
    def __init__(self, client: Any = None):
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env(timeout=10)
                self._client.ping()
            except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
                self._client = None
                raise EngineUnavailable(f"the Docker engine did not answer: {exc}",
                                        "start the engine (dockerd) or set DOCKER_HOST") from None
        return self._client

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        import docker.errors
        import requests

        try:
            return func(*args, **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise TfsctlError(f"{what}: image not found: {exc.explanation}",
                              "pull or build it first (scripts/build_image.sh builds "
                              "tfsctl/serve:dev)") from None
        except docker.errors.APIError as exc:
            hint = ("another process uses that port: pick another in the spec"
                    if "port is already allocated" in str(exc) or "address already in use"
                    in str(exc) else "see the engine's message")
            raise TfsctlError(f"{what}: {exc.explanation or exc}", hint) from None
        except (requests.ConnectionError, docker.errors.DockerException) as exc:
            raise EngineUnavailable(f"{what}: the Docker engine did not answer: {exc}",
                                    "start the engine (dockerd) or set DOCKER_HOST") from None

    def _find(self, server: str) -> list[Any]:
        """The server's containers, the current one first (a replacement's old one is last)."""
        found = self._call("list containers", self.client.containers.list, all=True,
                           filters={"label": [f"{MANAGED_LABEL}=true", f"{SERVER_LABEL}={server}"]})
        return sorted(found, key=lambda c: ("-old-" in c.name, c.status != "running"))

    def observe(self, server: str) -> ObservedContainer | None:
        found = self._find(server)
        return _observed(found[0]) if found else None

    def _run(self, spec: ContainerSpec, name: str) -> Any:
        ports = {f"{p.container_port}/tcp": (p.host_ip, p.host_port) for p in spec.ports}
        volumes = {m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"}
                   for m in spec.mounts}
        extra: dict[str, Any] = {}
        if spec.cpus:
            extra["nano_cpus"] = int(spec.cpus * 1e9)
        if spec.memory_bytes:
            extra["mem_limit"] = spec.memory_bytes
        return self._call(f"create container {name}", self.client.containers.run, spec.image,
                          list(spec.args), name=name, detach=True, environment=dict(spec.env),
                          ports=ports, volumes=volumes, restart_policy={"Name": "unless-stopped"},
                          labels={MANAGED_LABEL: "true", SERVER_LABEL: spec.server,
                                  CONFIG_HASH_LABEL: spec.config_hash}, **extra)

    def create(self, spec: ContainerSpec) -> ObservedContainer:
        container = self._run(spec, spec.name)
        container.reload()
        return _observed(container)

    def replace(self, spec: ContainerSpec, stop_timeout: float = 10) -> Replacement:
        """Stop the old container (its ports are needed), keep it aside, start the new one."""
        old_containers = self._find(spec.server)
        old = old_containers[0] if old_containers else None
        old_name = old.name if old else spec.name
        if old is not None:
            self._call("stop old container", old.stop, timeout=int(stop_timeout))
            self._call("rename old container", old.rename, f"{old.name}-old-{old.id[:8]}")
        try:
            new = self._run(spec, spec.name)
        except TfsctlError:
            if old is not None:
                old.rename(old_name)
                old.start()
            raise
        return Replacement(self, new, old, old_name)

    def restart(self, server: str, timeout: float = 10) -> None:
        for container in self._find(server):
            self._call("restart container", container.restart, timeout=int(timeout))

    def remove(self, server: str, timeout: float = 10) -> bool:
        found = self._find(server)
        for container in found:
            self._call("remove container", container.remove, force=True)
        return bool(found)

    def logs_tail(self, server: str, lines: int = 50) -> str:
        found = self._find(server)
        if not found:
            return ""
        return found[0].logs(tail=lines).decode(errors="replace")
