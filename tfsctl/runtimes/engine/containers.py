"""tfsctl's containers on one Docker engine: found by label, stamped with their settings.

Every container tfsctl creates is stamped with labels (container_spec.py): tfsctl
touches only those marked managed, finds a server's by its label whatever they are
called, and compares their config hash with the spec's.

A replacement never leaves the team worse off than before it started: the new
container is created before the old one is touched, the old one is only stopped
and renamed aside (``<name>-previous-<id>``), and deleted only when the caller
commits (`discard_previous`) after the new one proved healthy; `restore_previous`
undoes it, from the engine's state alone, even after a crash.

Environment values may be secrets: they are passed to the engine, never kept in a
repr, a log line or an error message from this module.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from typing import Any

from tfsctl.failpoints import failpoint
from tfsctl.runtimes.engine.container_spec import (
    MANAGED_LABEL,
    SERVER_LABEL,
    ContainerSpec,
    ObservedContainer,
    observed,
)
from tfsctl.runtimes.engine.errors import (
    ContainerNotFound,
    DockerRuntimeError,
    EngineUnavailable,
    engine_call,
)

#: The SDK ships no type information, so its objects are typed as this alias.
DockerClient = Any

#: Name infix of a container renamed aside by `replace`; never "the" server's container.
PREVIOUS_INFIX = "-previous-"
#: Name infix of a replacement container before it takes the server's name.
NEXT_INFIX = "-next-"

#: How long one engine API call may take before the engine counts as unavailable.
DEFAULT_API_TIMEOUT = 60


def _is_aside(name: str) -> bool:
    return PREVIOUS_INFIX in name


def _newest_first(containers: Iterable[Any]) -> list[Any]:
    # The engine's ISO-8601 "Created" timestamps (all UTC, same precision) sort as strings.
    return sorted(containers, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)


class Containers:
    """tfsctl's containers on one engine (``DOCKER_HOST`` or the default socket)."""

    def __init__(self, client: DockerClient | None = None, *, timeout: int = DEFAULT_API_TIMEOUT):
        self._client = client
        self._timeout = timeout

    @property
    def client(self) -> DockerClient:
        """The SDK client, made on first use so that constructing this never fails."""
        if self._client is None:
            with engine_call("connect to the Docker engine"):
                import docker

                self._client = docker.from_env(timeout=self._timeout)
        return self._client

    # -- reading ------------------------------------------------------------

    def _managed(self, server: str) -> list[Any]:
        labels = [f"{MANAGED_LABEL}=true", f"{SERVER_LABEL}={server}"]
        with engine_call("list containers"):
            # ignore_removed: a container deleted between the list and its inspect is just gone
            return list(self.client.containers.list(all=True, filters={"label": labels},
                                                    ignore_removed=True))

    def _current(self, server: str) -> Any | None:
        """The server's container: not one renamed aside or staged, running before stopped;
        the oldest running one (a blue/green replace runs the new one beside it until the
        switch), else the newest."""
        found = _newest_first(c for c in self._managed(server) if not _is_aside(c.name))
        running = [c for c in found if c.attrs.get("State", {}).get("Running") is True]
        pool = list(reversed(running)) if running else found
        pool.sort(key=lambda c: NEXT_INFIX in c.name)
        return pool[0] if pool else None

    def _previous(self, server: str) -> list[Any]:
        return [c for c in self._managed(server) if _is_aside(c.name)]

    def has_previous(self, server: str) -> bool:
        """Whether a container of the server is set aside (by `replace` or `set_aside`)."""
        return bool(self._previous(server))

    def observe(self, server: str) -> ObservedContainer | None:
        """The server's current container, or None; read-only (found by SERVER_LABEL)."""
        container = self._current(server)
        return observed(container) if container is not None else None

    def logs_tail(self, server: str, lines: int = 20) -> str:
        """The last lines the server's container printed (stdout and stderr), or ""."""
        container = self._current(server)
        if container is None:
            return ""
        with engine_call(f"read the logs of {container.name}"):
            return bytes(container.logs(tail=lines, stdout=True, stderr=True)).decode(errors="replace")

    def image_id(self, reference: str) -> str | None:
        """The ID the engine has for an image reference now, or None if it has none (or could
        not say: a failed lookup must not make the whole engine look unreachable)."""
        import docker.errors

        try:
            with engine_call(f"inspect image {reference}", reference):
                return str(self.client.images.get(reference).id)
        except EngineUnavailable:
            raise
        except (DockerRuntimeError, docker.errors.DockerException):
            return None

    def named(self, server: str, name: str) -> ObservedContainer | None:
        """The server's container called exactly `name`, or None."""
        found = [c for c in self._managed(server) if c.name == name]
        return observed(found[0]) if found else None

    def by_id(self, container_id: str) -> ObservedContainer | None:
        """The container `container_id` as the engine has it now (one inspect), or None if it
        is gone: what a wait asks of the container it started, many times a second."""
        import docker.errors

        with engine_call(f"inspect container {container_id[:12]}"):
            try:
                return observed(self.client.containers.get(container_id))
            except docker.errors.NotFound:
                return None

    def address(self, server: str, name: str, network: str) -> str | None:
        """The IP address the container `name` of `server` has on `network`, or None."""
        found = [c for c in self._managed(server) if c.name == name]
        if not found:
            return None
        networks = (found[0].attrs.get("NetworkSettings") or {}).get("Networks") or {}
        return (networks.get(network) or {}).get("IPAddress") or None

    # -- changing -----------------------------------------------------------

    def _create(self, spec: ContainerSpec, name: str) -> Any:
        """Create (not start) the container: validates image, mounts and args, binds nothing."""
        import docker.types

        kwargs: dict[str, Any] = {}
        if spec.cpus:
            kwargs["nano_cpus"] = int(spec.cpus * 1e9)
        if spec.memory_bytes:
            kwargs["mem_limit"] = spec.memory_bytes
        if spec.network:
            kwargs["network"] = spec.network
        ports: dict[str, list[tuple[str, int | None]]] = {}
        for p in spec.ports:
            ports.setdefault(f"{p.container_port}/tcp", []).append((p.host_ip, p.host_port or None))
        mounts = [docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only)
                  for m in spec.mounts]
        with engine_call(f"create container {name}", spec.image):
            return self.client.containers.create(
                spec.image, list(spec.args), name=name, detach=True,
                environment=[f"{k}={v}" for k, v in spec.env],
                ports={k: v[0] if len(v) == 1 else v for k, v in ports.items()},
                mounts=mounts, labels=spec.labels(),
                restart_policy={"Name": "unless-stopped"}, **kwargs)

    def create(self, spec: ContainerSpec) -> None:
        """Create and start the server's container; one that fails to start (a port taken...)
        is removed again, so a failed create leaves nothing behind."""
        container = self._create(spec, spec.name)
        try:
            with engine_call(f"start container {container.name}", spec.image):
                container.start()
        except DockerRuntimeError:
            self._remove_id(container.id, timeout=0)
            raise

    def replace(self, spec: ContainerSpec, stop_timeout: float = 10) -> None:
        """Swap the server's container for one made from ``spec``, undoably.

        1. create the new container under a temporary name (``<name>-next-<token>``)
           while the old one still serves: a missing image or bad mount fails here,
           with nothing touched;
        2. stop the old container (it holds the ports) and rename it aside;
        3. give the new container its name and start it; if that fails (e.g. the
           port is taken), undo 1-2 at once and raise.
        """
        old = self._current(spec.server)
        staged = self._create(spec, f"{spec.name}{NEXT_INFIX}{secrets.token_hex(4)}")
        was_running = old is not None and old.attrs.get("State", {}).get("Running") is True
        old_name = old.name if old is not None else ""
        try:
            if old is not None:
                with engine_call(f"stop container {old.name}"):
                    old.stop(timeout=int(stop_timeout))
                    old.rename(f"{spec.name}{PREVIOUS_INFIX}{old.id[:12]}")
            failpoint("during-replace")
            with engine_call(f"rename container {staged.name}"):
                staged.rename(spec.name)
            with engine_call(f"start container {spec.name}", spec.image):
                staged.start()
        except BaseException as exc:
            with contextlib.suppress(DockerRuntimeError):
                self._remove_id(staged.id, timeout=0)
            if old is not None:
                try:
                    self._revive(old.id, old_name, start=was_running)
                except DockerRuntimeError as revive_error:
                    raise DockerRuntimeError(
                        f"replacing {spec.server!r} failed ({getattr(exc, 'message', exc)}) and the old "
                        f"container could not be started again: {revive_error.message}",
                        f"docker start {old.id[:12]} (it may still be named *{PREVIOUS_INFIX}*)") from exc
            raise

    def set_aside(self, server: str, name: str) -> None:
        """Stop the server's container `name` and rename it aside, as `replace` does, for
        `restore_previous` to bring back or `discard_previous` to delete."""
        for container in self._managed(server):
            if container.name == name:
                with engine_call(f"stop container {name}"):
                    container.stop(timeout=0)
                    container.rename(f"{name}{PREVIOUS_INFIX}{container.id[:12]}")

    def remove_named(self, server: str, name: str) -> None:
        """Delete the server's container `name` at once (its traffic was drained first)."""
        for container in self._managed(server):
            if container.name == name:
                self._remove_id(container.id, timeout=0)

    def ensure_network(self, name: str) -> None:
        """The bridge network `name`, where containers find each other by name (created once,
        labelled as tfsctl's). Docker's name filter matches substrings, so the match is exact."""
        with engine_call(f"create network {name}"):
            if not any(n.name == name for n in self.client.networks.list(names=[name])):
                self.client.networks.create(name, driver="bridge", labels={MANAGED_LABEL: "true"})

    def restore_previous(self, server: str, start: bool = True) -> bool:
        """Undo an unfinished replacement from the engine's state alone (e.g. after a crash).

        Deletes the server's current container and brings back the newest one renamed
        aside (started unless ``start`` is False). If nothing was set aside yet, only a
        staged ``-next-`` container is deleted and the current one is left alone.
        Returns whether an old container was brought back.
        """
        previous = _newest_first(self._previous(server))
        if not previous:
            for container in self._managed(server):
                if NEXT_INFIX in container.name:
                    self._remove_id(container.id, timeout=0)
            return False
        keep = previous[0]
        original = keep.name.split(PREVIOUS_INFIX)[0]
        for container in self._managed(server):
            if container.id != keep.id:
                self._remove_id(container.id, timeout=0)
        self._revive(keep.id, original, start=start)
        return True

    def discard_previous(self, server: str) -> int:
        """Commit a replacement from the engine's state: delete the containers left aside."""
        previous = self._previous(server)
        for container in previous:
            self._remove_id(container.id, timeout=0)
        return len(previous)

    def restart(self, server: str, timeout: float = 10) -> None:
        """Restart (or start, if stopped) the server's container, as it is."""
        container = self._current(server)
        if container is None:
            raise ContainerNotFound(f"server {server!r} has no container to restart",
                                    "run tfsctl apply to create it")
        with engine_call(f"restart container {container.name}"):
            container.restart(timeout=int(timeout))

    def remove(self, server: str, timeout: float = 10) -> bool:
        """Stop (gracefully, up to ``timeout`` s) and delete all the server's containers;
        whether there was anything to remove."""
        found = self._managed(server)
        for container in found:
            self._remove_id(container.id, timeout=timeout)
        return bool(found)

    def _remove_id(self, container_id: str, timeout: float) -> None:
        """Stop and delete one container; one that is already gone is fine."""
        import docker.errors

        with engine_call(f"remove container {container_id[:12]}"):
            try:
                container = self.client.containers.get(container_id)
                if timeout > 0 and container.status in ("running", "restarting"):
                    container.stop(timeout=int(timeout))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    def _revive(self, container_id: str, name: str, start: bool = True) -> None:
        """Give a container renamed aside its name back and (if asked) start it."""
        with engine_call(f"restore container {name}"):
            container = self.client.containers.get(container_id)
            if container.name != name:
                container.rename(name)
            if start:
                container.start()
