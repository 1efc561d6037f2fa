"""The Docker runtime: one container per server, found by label, stamped with a hash.

This is docker-compose's approach, without a state file. Every container tfsctl
creates carries three labels:

* ``io.tfsctl.managed=true``: tfsctl may touch it (nothing else is ever changed);
* ``io.tfsctl.server=<name>``: which server of the spec it runs, so observing a
  server is a label query, whatever the container happens to be called;
* ``io.tfsctl.config-hash=<hash>``: the hash of the settings it was created from,
  so "does it still match the spec?" is a string comparison, not a diff of
  everything the engine reports back (which includes the image's own defaults).

A replacement never leaves the team worse off than before it started (see
:class:`Replacement`): the new container is created before the old one is
touched, the old one is only stopped and renamed aside, and it is deleted only
when the caller commits, after the new one has proved healthy.

Environment values may be secrets: they are passed to the engine and hashed, but
they never appear in a repr, a log line or an error message from this module.

The Docker SDK is imported lazily, so importing this module (as ``plan`` does) costs
nothing and works even where the SDK is broken; an engine that does not answer
is reported as :class:`EngineUnavailable`, which callers treat as live state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tfsctl.errors import TfsctlError
from tfsctl.failpoints import failpoint

#: The SDK ships no type information, so its objects are typed as this alias.
DockerClient = Any

MANAGED_LABEL = "io.tfsctl.managed"
SERVER_LABEL = "io.tfsctl.server"
CONFIG_HASH_LABEL = "io.tfsctl.config-hash"

#: Name infix of a container renamed aside by :meth:`DockerRuntime.replace`
#: (``<name>-previous-<id>``); such a container is never "the" server's container.
PREVIOUS_INFIX = "-previous-"
#: Name infix of a replacement container before it takes the server's name.
NEXT_INFIX = "-next-"

#: How long one engine API call may take before the engine counts as unavailable.
DEFAULT_API_TIMEOUT = 60
_ENGINE_HINT = "start the Docker engine (dockerd; .ci/docker.sh does it) or point DOCKER_HOST at one"
_BUILD_HINT = "build the serve image with scripts/build_image.sh (makes tfsctl/serve:dev) or pull the image"


# --------------------------------------------------------------------------- errors


class DockerRuntimeError(TfsctlError):
    """A Docker operation failed for a reason the user can fix (message + hint)."""


class EngineUnavailable(DockerRuntimeError):
    """The Docker engine did not answer.

    Not a crash: ``plan`` reports it as the live state "engine unreachable" and
    ``apply`` stops before changing anything.
    """


class ImageNotFound(DockerRuntimeError):
    """The image is not on the engine (nothing can be pulled on a machine without a registry)."""


class PortInUse(DockerRuntimeError):
    """A host port of the spec is taken by another process or container."""


class NameConflict(DockerRuntimeError):
    """A container with the wanted name exists and is not the one being replaced."""


class ContainerNotFound(DockerRuntimeError):
    """The server has no container (it was never created or was removed by hand)."""


class ReplacementError(DockerRuntimeError):
    """A replacement could not be committed or rolled back as asked."""


# --------------------------------------------------------------------------- specs


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


def _hash_of(data: object) -> str:
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True, init=False)
class ContainerSpec:
    """Everything a server's container is created from; pure data, no engine needed.

    ``args`` are appended after the image's entrypoint (the image's CMD is
    replaced). ``env`` values may be secrets: they are left out of ``repr``.

    ``config_hash()`` is what goes into :data:`CONFIG_HASH_LABEL`. It is computed
    from all fields, canonically (env, ports and mounts sorted, since their order
    means nothing to the engine; args kept in order, since it matters), so it is
    the same across runs and machines. A caller that already hashes a
    higher-level description (``DesiredRuntime.config_hash()``, which ``plan``
    compares labels against) may pin the label with ``config_hash=...``; the pinned
    value then wins, so the label and the plan's comparison always use one hash.
    """

    name: str
    server: str
    image: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(repr=False)
    ports: tuple[PortBinding, ...]
    mounts: tuple[Mount, ...]
    cpus: float | None
    memory_bytes: int | None
    pinned_hash: str | None = field(repr=False)

    def __init__(self, name: str, server: str, image: str, args: Iterable[str],
                 env: Iterable[tuple[str, str]] | Mapping[str, str],
                 ports: Iterable[PortBinding], mounts: Iterable[Mount],
                 cpus: float | None = None, memory_bytes: int | None = None,
                 *, config_hash: str | None = None) -> None:
        pairs = env.items() if isinstance(env, Mapping) else env
        values = {
            "name": name, "server": server, "image": image,
            "args": tuple(str(a) for a in args),
            "env": tuple((str(k), str(v)) for k, v in pairs),
            "ports": tuple(ports), "mounts": tuple(mounts),
            "cpus": cpus, "memory_bytes": memory_bytes, "pinned_hash": config_hash,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def canonical(self) -> dict[str, object]:
        """The hashed form: secrets included, so never print it."""
        return {
            "name": self.name, "server": self.server, "image": self.image,
            "args": list(self.args),
            "env": sorted([k, v] for k, v in self.env),
            "ports": sorted([p.container_port, p.host_ip, p.host_port] for p in self.ports),
            "mounts": sorted([m.source, m.target, m.read_only] for m in self.mounts),
            "cpus": self.cpus, "memory_bytes": self.memory_bytes,
        }

    def config_hash(self) -> str:
        """sha256 (hex) of :meth:`canonical`, or the pinned hash if the caller gave one."""
        return self.pinned_hash or _hash_of(self.canonical())

    def labels(self) -> dict[str, str]:
        return {MANAGED_LABEL: "true", SERVER_LABEL: self.server, CONFIG_HASH_LABEL: self.config_hash()}


# --------------------------------------------------------------------------- observed state


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
    """What the engine says about one tfsctl-managed container (read-only snapshot).

    ``env`` holds only the variables the container was given beyond its image's
    defaults (PATH, MODEL_NAME, ...), i.e. what a spec set; values are kept out of
    ``repr``. ``aside`` is true for an old container that a replacement renamed
    aside and that waits for a commit or a rollback. ``restart_count`` counts the
    engine's restarts under the restart policy: a "running" container whose count
    grows is crash-looping.
    """

    id: str
    name: str
    server: str
    image: str
    status: ContainerStatus
    config_hash: str | None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    ports: tuple[PortBinding, ...] = ()
    mounts: tuple[Mount, ...] = ()
    exit_code: int | None = None
    started_at: str | None = None
    aside: bool = False
    restart_count: int = 0

    @property
    def running(self) -> bool:
        return self.status in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING)


def _status(state: Mapping[str, Any]) -> ContainerStatus:
    try:
        return ContainerStatus(state.get("Status", "unknown"))
    except ValueError:
        return ContainerStatus.UNKNOWN


def _ports(host_config: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    found: list[PortBinding] = []
    for key, bindings in (host_config.get("PortBindings") or {}).items():
        port, _, proto = key.partition("/")
        if proto not in ("", "tcp"):
            continue
        for binding in bindings or ():
            host_port = binding.get("HostPort") or "0"
            found.append(PortBinding(int(port), binding.get("HostIp") or "", int(host_port)))
    return tuple(sorted(found, key=lambda p: (p.container_port, p.host_ip, p.host_port)))


def _mounts(attrs: Mapping[str, Any]) -> tuple[Mount, ...]:
    found = [Mount(m.get("Source", ""), m.get("Destination", ""), not m.get("RW", True))
             for m in attrs.get("Mounts") or () if m.get("Type", "bind") == "bind"]
    return tuple(sorted(found, key=lambda m: m.target))


def _split_env(entries: Iterable[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, _, v in (e.partition("=") for e in entries)]


# --------------------------------------------------------------------------- replacement


class Replacement:
    """A container swap that can still be undone: a two-phase change.

    :meth:`DockerRuntime.replace` returns it with the new container running
    (``container``) and the old one, if there was one, stopped and renamed aside
    (``previous``, named ``<name>-previous-<id>``). The caller then checks the new
    server (readiness, smoke requests) and ends the transaction exactly once:

    * :meth:`commit`: the new container stays; the old one is deleted.
    * :meth:`rollback` (alias :meth:`restore_previous`): the new container is
      deleted and the old one gets its name back and is started again, so the
      team is where it was before ``replace``.

    Both are idempotent; calling the other one after the first raises
    :class:`ReplacementError`. If the process dies in between, the old container
    is still there (``observe_all`` shows it with ``aside=True``) and
    :meth:`DockerRuntime.restore_previous` or :meth:`DockerRuntime.discard_previous`
    finish the job from the engine's state alone.
    """

    def __init__(self, runtime: DockerRuntime, server: str, container: ObservedContainer,
                 previous: ObservedContainer | None, previous_name: str | None,
                 previous_was_running: bool = True):
        self._runtime = runtime
        self.server = server
        self.container = container
        self.previous = previous
        self.previous_name = previous_name
        #: a rollback restarts the old container only if it was running before the replace
        self.previous_was_running = previous_was_running
        self.state = "pending"

    def __repr__(self) -> str:
        old = self.previous.name if self.previous else None
        return (f"Replacement(server={self.server!r}, new={self.container.name!r}, previous={old!r}, "
                f"{self.state})")

    def commit(self) -> None:
        """Keep the new container; delete the old one (best effort if it vanished already)."""
        if self.state == "committed":
            return
        if self.state != "pending":
            raise ReplacementError(f"replacement of {self.server!r} was already {self.state}")
        if self.previous is not None:
            self._runtime._remove_id(self.previous.id, timeout=0)
        self.state = "committed"

    def rollback(self) -> None:
        """Delete the new container and bring the old one back under its own name."""
        if self.state == "rolled back":
            return
        if self.state != "pending":
            raise ReplacementError(f"replacement of {self.server!r} was already {self.state}")
        self._runtime._remove_id(self.container.id, timeout=0)
        if self.previous is not None and self.previous_name is not None:
            self._runtime._revive(self.previous.id, self.previous_name, start=self.previous_was_running)
        self.state = "rolled back"

    restore_previous = rollback


# --------------------------------------------------------------------------- runtime


class DockerRuntime:
    """tfsctl's containers on one Docker engine (``DOCKER_HOST`` or the default socket).

    Every method maps the SDK's errors to the exceptions above, so callers deal
    with tfsctl's messages and hints, never with ``requests`` or ``docker.errors``.
    """

    def __init__(self, client: DockerClient | None = None, *, timeout: int = DEFAULT_API_TIMEOUT):
        self._client = client
        self._timeout = timeout
        self._image_env: dict[str, set[str]] = {}

    # -- engine access ------------------------------------------------------

    @property
    def client(self) -> DockerClient:
        """The SDK client, made on first use so that constructing a runtime never fails."""
        if self._client is None:
            with self._engine("connect to the Docker engine"):
                import docker

                self._client = docker.from_env(timeout=self._timeout)
        return self._client

    @contextlib.contextmanager
    def _engine(self, what: str, image: str | None = None) -> Iterator[None]:
        """Turn the SDK's and requests' exceptions into tfsctl's, with what was being done."""
        import docker.errors
        import requests.exceptions

        try:
            yield
        except docker.errors.ImageNotFound:
            raise ImageNotFound(f"{what}: image {image or '(unnamed)'} is not on the Docker engine",
                                _BUILD_HINT) from None
        except docker.errors.APIError as exc:
            raise _api_error(what, exc, image) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_short(exc)})",
                                    _ENGINE_HINT) from None
        except docker.errors.DockerException as exc:
            # from_env() without an engine, a bad DOCKER_HOST, a TLS setting...
            raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_short(exc)})",
                                    _ENGINE_HINT) from None

    def ping(self) -> None:
        """Raise EngineUnavailable unless the engine answers."""
        with self._engine("ping the Docker engine"):
            self.client.ping()

    def _managed(self, server: str | None = None) -> list[Any]:
        labels = [f"{MANAGED_LABEL}=true"] + ([f"{SERVER_LABEL}={server}"] if server is not None else [])
        with self._engine("list containers"):
            # ignore_removed: a container deleted between the list and its inspect is just gone
            return list(self.client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))

    def _current(self, server: str) -> Any | None:
        """The server's container: not one renamed aside, running before stopped, newest first."""
        found = _newest_first(c for c in self._managed(server) if not _is_aside(c.name))
        found.sort(key=lambda c: (c.attrs.get("State", {}).get("Running") is not True, NEXT_INFIX in c.name))
        return found[0] if found else None

    def _previous(self, server: str) -> list[Any]:
        return [c for c in self._managed(server) if _is_aside(c.name)]

    def _observed(self, container: Any) -> ObservedContainer:
        attrs = container.attrs
        config = attrs.get("Config") or {}
        labels = config.get("Labels") or {}
        state = attrs.get("State") or {}
        status = _status(state)
        started = state.get("StartedAt") or None
        if started and started.startswith("0001-"):
            started = None
        image_env = self._defaults_of_image(attrs.get("Image", ""))
        env = tuple(sorted(_split_env(e for e in config.get("Env") or () if e not in image_env)))
        return ObservedContainer(
            id=container.id, name=container.name, server=labels.get(SERVER_LABEL, ""),
            image=config.get("Image", ""), status=status,
            config_hash=labels.get(CONFIG_HASH_LABEL),
            args=tuple(config.get("Cmd") or ()), env=env,
            ports=_ports(attrs.get("HostConfig") or {}), mounts=_mounts(attrs),
            exit_code=(state.get("ExitCode") if status in (ContainerStatus.EXITED, ContainerStatus.DEAD)
                       else None),
            started_at=started, aside=_is_aside(container.name),
            restart_count=int(attrs.get("RestartCount") or 0))

    def _defaults_of_image(self, image_id: str) -> set[str]:
        """The image's own environment (``KEY=VALUE``), to tell it from what a spec set."""
        if image_id not in self._image_env:
            import docker.errors

            with self._engine(f"inspect image {image_id[:19]}"):
                try:
                    env = self.client.api.inspect_image(image_id).get("Config", {}).get("Env") or []
                except docker.errors.NotFound:
                    env = []  # image deleted since: report the whole environment
            self._image_env[image_id] = set(env)
        return self._image_env[image_id]

    # -- reading ------------------------------------------------------------

    def observe(self, server: str) -> ObservedContainer | None:
        """The server's current container, or None; read-only (found by SERVER_LABEL)."""
        container = self._current(server)
        return self._observed(container) if container is not None else None

    def observe_all(self) -> list[ObservedContainer]:
        """Every tfsctl-managed container, including ones a replacement left aside."""
        found = [self._observed(c) for c in self._managed()]
        return sorted(found, key=lambda c: (c.server, c.aside, c.name))

    def logs_tail(self, server: str, lines: int = 50) -> str:
        """The last lines the server's container printed (stdout and stderr), or ""."""
        container = self._current(server)
        if container is None:
            return ""
        with self._engine(f"read the logs of {container.name}"):
            return bytes(container.logs(tail=lines, stdout=True, stderr=True)).decode(errors="replace")

    def image_exists(self, image: str) -> bool:
        import docker.errors

        with self._engine(f"look up image {image}", image):
            try:
                self.client.images.get(image)
            except docker.errors.ImageNotFound:
                return False
        return True

    # -- changing -----------------------------------------------------------

    def _create(self, spec: ContainerSpec, name: str) -> Any:
        """Create (not start) the container: validates image, mounts and args, binds nothing."""
        import docker.types

        kwargs: dict[str, Any] = {}
        if spec.cpus:
            kwargs["nano_cpus"] = int(spec.cpus * 1e9)
        if spec.memory_bytes:
            kwargs["mem_limit"] = spec.memory_bytes
        ports: dict[str, list[tuple[str, int | None]]] = {}
        for p in spec.ports:
            ports.setdefault(f"{p.container_port}/tcp", []).append((p.host_ip, p.host_port or None))
        mounts = [docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only)
                  for m in spec.mounts]
        with self._engine(f"create container {name}", spec.image):
            return self.client.containers.create(
                spec.image, list(spec.args), name=name, detach=True,
                environment=[f"{k}={v}" for k, v in spec.env],
                ports={k: v[0] if len(v) == 1 else v for k, v in ports.items()},
                mounts=mounts, labels=spec.labels(),
                restart_policy={"Name": "unless-stopped"}, **kwargs)

    def _start(self, container: Any, spec: ContainerSpec) -> None:
        with self._engine(f"start container {container.name}", spec.image):
            container.start()

    def create(self, spec: ContainerSpec) -> ObservedContainer:
        """Create and start the server's container (labels incl. config hash; restart unless-stopped).

        A container that fails to start (port taken, ...) is removed again, so a
        failed create leaves nothing behind.
        """
        container = self._create(spec, spec.name)
        try:
            self._start(container, spec)
        except DockerRuntimeError:
            self._remove_id(container.id, timeout=0)
            raise
        return self._refresh(container)

    def replace(self, spec: ContainerSpec, stop_timeout: float = 10) -> Replacement:
        """Swap the server's container for one made from ``spec``, undoably.

        1. create the new container under a temporary name (``<name>-next-<token>``)
           while the old one still serves: a missing image or bad mount fails here,
           with nothing touched;
        2. stop the old container (it holds the ports) and rename it aside;
        3. give the new container its name and start it; if that fails (e.g. the
           port is taken), undo 1-2 at once and raise.

        Returns a pending :class:`Replacement`: ``commit()`` once the new server is
        healthy, ``rollback()`` / ``restore_previous()`` otherwise.
        """
        old = self._current(spec.server)
        staged = self._create(spec, f"{spec.name}{NEXT_INFIX}{secrets.token_hex(4)}")
        previous: ObservedContainer | None = None
        old_name: str | None = None
        was_running = old is not None and old.attrs.get("State", {}).get("Running") is True
        try:
            if old is not None:
                old_name = old.name
                with self._engine(f"stop container {old.name}"):
                    old.stop(timeout=int(stop_timeout))
                    old.rename(f"{spec.name}{PREVIOUS_INFIX}{old.id[:12]}")
                previous = self._refresh(old)
            failpoint("during-replace")
            with self._engine(f"rename container {staged.name}"):
                staged.rename(spec.name)
            self._start(staged, spec)
        except BaseException as exc:
            with contextlib.suppress(DockerRuntimeError):
                self._remove_id(staged.id, timeout=0)
            if old is not None and old_name is not None:
                try:
                    self._revive(old.id, old_name, start=was_running)
                except DockerRuntimeError as revive_error:
                    raise ReplacementError(
                        f"replacing {spec.server!r} failed ({getattr(exc, 'message', exc)}) and the old "
                        f"container could not be started again: {revive_error.message}",
                        f"docker start {old.id[:12]} (it may still be named *{PREVIOUS_INFIX}*)") from exc
            raise
        return Replacement(self, spec.server, self._refresh(staged), previous, old_name, was_running)

    def restore_previous(self, server: str, start: bool = True) -> bool:
        """Undo an unfinished replacement from the engine's state alone (e.g. after a crash).

        Deletes the server's current container and brings back the newest one
        renamed aside (started unless ``start`` is False). If nothing was set aside
        yet, only a staged ``-next-`` container is deleted and the current one is
        left alone. Returns whether an old container was brought back.
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
        """Commit an unfinished replacement from the engine's state: delete containers left aside."""
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
        with self._engine(f"restart container {container.name}", container.attrs["Config"].get("Image")):
            container.restart(timeout=int(timeout))

    def remove(self, server: str, timeout: float = 10) -> bool:
        """Stop (gracefully, up to ``timeout`` s) and delete all the server's containers.

        Returns whether there was anything to remove.
        """
        found = self._managed(server)
        for container in found:
            self._remove_id(container.id, timeout=timeout)
        return bool(found)

    # -- helpers ------------------------------------------------------------

    def _refresh(self, container: Any) -> ObservedContainer:
        with self._engine(f"inspect container {container.name}"):
            container.reload()
        return self._observed(container)

    def _remove_id(self, container_id: str, timeout: float) -> None:
        """Stop and delete one container; one that is already gone is fine."""
        import docker.errors

        with self._engine(f"remove container {container_id[:12]}"):
            try:
                container = self.client.containers.get(container_id)
                if timeout > 0 and container.status in ("running", "restarting"):
                    container.stop(timeout=int(timeout))
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    def _revive(self, container_id: str, name: str, start: bool = True) -> None:
        """Give a container renamed aside its name back and (if asked) start it."""
        with self._engine(f"restore container {name}"):
            container = self.client.containers.get(container_id)
            if container.name != name:
                container.rename(name)
            if start:
                container.start()


def _is_aside(name: str) -> bool:
    return PREVIOUS_INFIX in name


def _newest_first(containers: Iterable[Any]) -> list[Any]:
    # The engine's ISO-8601 "Created" timestamps (all UTC, same precision) sort as strings.
    return sorted(containers, key=lambda c: str(c.attrs.get("Created", "")), reverse=True)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _api_error(what: str, exc: Any, image: str | None) -> DockerRuntimeError:
    """An engine refusal, classified by its message (the engine has no error codes for these)."""
    explanation = str(getattr(exc, "explanation", "") or exc)
    lower = explanation.lower()
    status = getattr(exc, "status_code", None)
    if "port is already allocated" in lower or "address already in use" in lower:
        return PortInUse(f"{what}: a host port is already in use ({explanation})",
                         "stop whatever holds the port, or choose other ports in the spec")
    if "cannot assign requested address" in lower:
        return DockerRuntimeError(f"{what}: the bind address is not on this machine ({explanation})",
                                  "use 127.0.0.1, 0.0.0.0 or an address of this host")
    if status == 409 and "name" in lower and "already in use" in lower:
        return NameConflict(f"{what}: the container name is taken ({explanation})",
                            "remove that container (docker rm -f NAME) or rename it; tfsctl "
                            "only replaces containers it labelled itself")
    if "bind source path does not exist" in lower:
        return DockerRuntimeError(f"{what}: a mounted host path does not exist ({explanation})",
                                  "create the model root, or fix the path in the spec")
    if status == 404 and image and ("no such image" in lower or "pull access denied" in lower):
        return ImageNotFound(f"{what}: image {image} is not on the Docker engine", _BUILD_HINT)
    if status is not None and status >= 500 and "connect" in lower:
        return EngineUnavailable(f"{what}: {explanation}", _ENGINE_HINT)
    return DockerRuntimeError(f"{what}: {explanation}", "see the Docker engine's message")
