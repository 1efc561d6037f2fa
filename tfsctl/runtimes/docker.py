"""`runtime: docker`: a server's TF Serving container behind its own HAProxy container.

The proxy container (proxy.py) owns the spec's published ports; TF Serving runs
unpublished on the host's `tfsctl` bridge network, with the model root mounted
read-only at /models and the settings' hash stamped as a label, so the next
plan can tell whether it still matches (docker-compose's config_hash).

Every change of the container is blue/green, as kamal-proxy does it
(bluegreen.py): the new container starts beside the serving one, apply checks
it directly (every version AVAILABLE, the smoke requests), then `switch` moves
traffic to it through HAProxy's Runtime API, and `commit` drains the old one and
removes it. Until the switch, the serving container and the proxy are not
touched, so a failure (or a kill) only removes the new container again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tfsctl.endpoints import Endpoint
from tfsctl.errors import TfsctlError
from tfsctl.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.rollout.figures import Counters
from tfsctl.runtimes import ports
from tfsctl.runtimes.base import (
    Launch,
    RuntimeDriver,
    RuntimeState,
    RuntimeStatus,
    RuntimeTarget,
    ServerExited,
    Step,
)
from tfsctl.runtimes.bluegreen import BlueGreen, Names
from tfsctl.runtimes.engine.container_spec import ContainerSpec, Mount
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.engine.errors import EngineUnavailable, PortInUse
from tfsctl.runtimes.profile import RuntimeProfile, Settings
from tfsctl.runtimes.proxy import PROXY_IMAGE, proxy_label
from tfsctl.serverconfig.launch import ServerView
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Server
from tfsctl.spec.runtimes.docker import DockerOptions

#: Where the model root is mounted in the container, and the ports the server listens on
#: there (tensorflow/serving's defaults); the proxy sends requests to these.
CONTAINER_MODEL_ROOT = "/models"
CONTAINER_GRPC_PORT, CONTAINER_REST_PORT = 8500, 8501
#: The setting that says a container serves behind the proxy (one made without it
#: published the ports itself, and is migrated by the next apply).
PROXY_SETTING = "proxy"


@dataclass(frozen=True)
class ContainerPart:
    """What every runtime that runs the server in a container made from its image knows:
    the model root is mounted read-only at /models, the server listens on the image's own
    ports (published onto the spec's), and the image is a setting. docker runs one such
    container; swarm runs tasks of them and uses this part too (neither profile derives
    from the other)."""

    root: str = CONTAINER_MODEL_ROOT

    def view(self) -> ServerView:
        return ServerView(self.root)

    def settings(self, image: str) -> dict[str, Any]:
        return {"image": image}


CONTAINER = ContainerPart()


class DockerProfile(RuntimeProfile[DockerOptions]):
    options_type = DockerOptions
    noun = "container"
    mounts_root = True
    #: the proxy holds the ports, so a change to them, or to the proxy, replaces it stop-first
    stops_for = frozenset({"bind_address", "ports.grpc", "ports.rest", PROXY_SETTING})
    canary = True
    starts_gated = True

    def seen_root(self, model_root: str) -> str:
        return CONTAINER.root

    def view(self, server: Server) -> ServerView:
        return CONTAINER.view()

    def settings(self, server: Server, args: tuple[str, ...]) -> dict[str, Any]:
        return {**super().settings(server, args), **CONTAINER.settings(self.options(server).image),
                **self.traffic()}

    def traffic(self) -> dict[str, Any]:
        """The settings of what carries the traffic to the container: its proxy."""
        return {PROXY_SETTING: PROXY_IMAGE}

    def rollout(self, server: Server) -> str | None:
        return ("blue/green behind the proxy: the new container takes traffic only once every "
                "version is AVAILABLE and the smoke requests pass against it, then the old one "
                "drains (no downtime)")

    def change_notes(self, before: Settings, after: Settings) -> list[str]:
        if after.get(PROXY_SETTING) and not before.get(PROXY_SETTING):
            return ["migrated behind tfsctl's proxy (blue/green from then on): the container "
                    "gives its published ports to the proxy, so requests fail for a moment once"]
        return []

    def check(self, server: Server, where: tuple[Any, ...]) -> Iterator[Finding]:
        yield from self.outside_root(server, where, "docker servers see only the model root "
                                                    "(mounted at /models): move the model under it")
        if self.options(server).replicas > 1 and server.kubernetes is None:
            yield Finding((*where, "replicas"), "a docker server runs one container: `replicas` "
                          "counts the copies of its Kubernetes manifests",
                          "use `runtime: swarm` to run copies, or add a `kubernetes:` block to "
                          "render them (`tfsctl render --what kubernetes`)")


PROFILE = DockerProfile()


def container_name(server: str) -> str:
    return f"tfsctl-{server}"


def container_spec(server: str, launch: Launch, name: str, network: str) -> ContainerSpec:
    """The TF Serving container: on the shared network, publishing nothing."""
    return ContainerSpec(
        name=name,
        server=server,
        image=launch.image,
        args=launch.args,
        env=tuple(sorted(launch.env.items())),
        ports=(),
        mounts=(Mount(launch.model_root, CONTAINER_MODEL_ROOT, read_only=True),),
        config_hash=launch.config_hash,
        settings=json.dumps(dict(launch.settings), sort_keys=True, separators=(",", ":")),
        cpus=launch.cpus,
        memory_bytes=launch.memory_bytes,
        network=network,
    )


class Driver(RuntimeDriver):
    """The server's containers on the engine of DOCKER_HOST (or the default socket)."""

    def __init__(self, target: RuntimeTarget, containers: Containers | None = None):
        super().__init__(target)
        self.containers = containers or Containers()
        self.names = Names.of(target.server, container_name(target.server))
        self.traffic = BlueGreen(self.containers, self.names, self.state_dir,
                                 {"rest": CONTAINER_REST_PORT, "grpc": CONTAINER_GRPC_PORT})
        self._started: Any = None  # the container this driver started, right after it did
        #: where that container answers directly (its address holds while it runs, and a
        #: restart of it fails `check_started`), asked once rather than at every probe
        self._started_endpoint: Endpoint | None = None

    @property
    def server(self) -> str:
        return self.target.server

    def observe(self, image: str) -> RuntimeState:
        try:
            container = self.containers.observe(self.server)
            proxy = self.containers.observe(proxy_label(self.server))
            wanted = self.containers.image_id(image)
        except EngineUnavailable as exc:
            return RuntimeState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        if container is None:
            return RuntimeState(RuntimeStatus.MISSING, wanted_image_id=wanted)
        settings = tuple(sorted(container.settings.items())) if container.settings is not None else None
        proxied = PROXY_SETTING in (container.settings or {})
        proxy_down = proxied and (proxy is None or not proxy.running)
        detail = "" if container.running else f"{container.status.value} (exit {container.exit_code})"
        if proxy_down:
            detail = "; ".join(filter(None, [detail, "its proxy container is not running"]))
        return RuntimeState(
            RuntimeStatus.RUNNING if container.running and not proxy_down else RuntimeStatus.STOPPED,
            config_hash=container.config_hash, settings=settings, image_id=container.image_id,
            wanted_image_id=wanted, identity=container.id, detail=detail)

    def undo_for(self, step: Step) -> RuntimeUndo:
        """A replace and a restart are both blue/green: undone by removing the new container
        (and, if the switch happened, sending traffic back first)."""
        current = self.containers.observe(self.server)
        if step is Step.CREATE or current is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        proxy = self.containers.observe(proxy_label(self.server))
        return RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS, was_running=current.running,
                           previous={"proxy_hash": proxy.config_hash if proxy else None,
                                     "live": current.name})

    def _port_taken(self, error: PortInUse) -> PortInUse:
        """The engine's refusal, with the program holding the port where the system says."""
        for name, port in (("gRPC", self.target.grpc_port), ("REST", self.target.rest_port)):
            holder = ports.holder(port)
            if holder is not None:
                return PortInUse(f"{name} port {port} is already in use by {ports.describe(holder)}",
                                 error.hint)
        return error

    def _start(self, launch: Launch, name: str) -> None:
        self.containers.ensure_network(self.names.network)
        self.containers.create(container_spec(self.server, launch, name, self.names.network))
        self._started = self.containers.named(self.server, name)
        self._started_endpoint = None

    def create(self, launch: Launch) -> None:
        """The proxy first: a port that is taken fails in a second, before a server starts."""
        self.containers.remove(self.server)  # a stopped leftover of ours, if any
        self.containers.ensure_network(self.names.network)
        try:
            self.traffic.ensure_proxy(launch)
        except PortInUse as exc:
            raise self._port_taken(exc) from None
        self._start(launch, self.names.a)

    def replace(self, launch: Launch) -> None:
        """Start the new (green) container beside the serving one; nothing else changes until
        `switch`. Leftovers of an earlier replace are garbage by now (an interrupted one was
        undone before this apply planned), so they go first."""
        self.containers.discard_previous(self.server)
        self._start(launch, self.traffic.prepare(launch))

    def restart(self, launch: Launch) -> None:
        """The same settings in a new container, blue/green like a replace: a restart in
        place would stop the only server that answers."""
        self.replace(launch)

    def verify_endpoint(self) -> Endpoint:
        if self._started is None:
            return self.traffic.direct_endpoint(None) or self.target.endpoint
        if self._started_endpoint is None:
            self._started_endpoint = self.traffic.direct_endpoint(self._started.name)
        return self._started_endpoint or self.target.endpoint

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (self.verify_endpoint(),)

    def switch(self, launch: Launch) -> None:
        if self._started is None:
            return
        try:
            self.traffic.switch(launch, self._started.name)
        except PortInUse as exc:
            raise self._port_taken(exc) from None

    def _canary(self) -> str:
        if self._started is None:
            raise TfsctlError(f"no canary of {self.server!r} was started by this apply",
                              "a canary step follows the replace that starts it: plan again")
        return str(self._started.name)

    def split(self, weight: int) -> None:
        self.traffic.split(self._canary(), weight)

    def canary_figures(self, metrics_path: str) -> tuple[Counters, Counters | None]:
        return self.traffic.figures(self._canary(), metrics_path)

    def check_started(self) -> None:
        started = self._started
        if started is None:  # not started by this apply: it must simply keep running
            now = self.containers.observe(self.server)
            if now is not None and not now.running:
                raise ServerExited(f"the container of {self.server!r} stopped while apply waited "
                                   f"(exit code {now.exit_code})",
                                   "its log ends with:\n" + self.containers.logs_tail(self.server, 8))
            return
        now = self.containers.by_id(started.id)
        if now is None:
            raise ServerExited(f"the container apply started for {self.server!r} is gone",
                               "something else removed or replaced it meanwhile")
        if now.running and now.restart_count == started.restart_count:
            return
        why = f"exit code {now.exit_code}" if now.exit_code is not None else \
            f"restarted {now.restart_count - started.restart_count} times"
        raise ServerExited(f"the container of {self.server!r} stopped while starting ({why})",
                           "its log ends with:\n" + self.containers.logs_tail(self.server, 8))

    def undo(self, undo: RuntimeUndo) -> None:
        """Remove what this apply started (or put back what it replaced); from then on the
        serving container is the one to ask, as if this apply had started nothing."""
        if undo.kind is RuntimeUndoKind.REMOVE:
            self.destroy()
        else:
            self.traffic.back(undo)
        self._started, self._started_endpoint = None, None

    def commit(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS:
            self.traffic.finish(undo)

    def revive(self) -> bool:
        revived = False
        for label in (proxy_label(self.server), self.server):
            current = self.containers.observe(label)
            if current is not None and not current.running:
                self.containers.restart(label)
                revived = True
        return revived

    def wait_answering(self, timeout: float) -> None:
        """Until the container answers itself; then the proxy is routed to it at once (its
        checks marked it down while it was away)."""
        super().wait_answering(timeout)
        self.traffic.reroute()

    def destroy(self) -> None:
        self.containers.remove(proxy_label(self.server))
        self.containers.remove(self.server)
