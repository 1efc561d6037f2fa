"""`runtime: docker`: one container per server on a Docker engine.

The container is made from the desired runtime: the model root mounted
read-only at /models, the server's ports published on the spec's bind address,
and the settings' hash stamped as a label, so the next plan can tell whether it
still matches (docker-compose's config_hash). A replace creates the new
container before the old one is stopped, and keeps the old one aside until the
apply commits (see engine/containers.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tfsctl.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.runtimes import ports
from tfsctl.runtimes.base import (
    Launch,
    RuntimeDriver,
    RuntimeProfile,
    RuntimeState,
    RuntimeStatus,
    RuntimeTarget,
    ServerExited,
    Step,
)
from tfsctl.runtimes.engine.containers import (
    Containers,
    ContainerSpec,
    Mount,
    ObservedContainer,
    PortBinding,
)
from tfsctl.runtimes.engine.errors import EngineUnavailable, PortInUse
from tfsctl.serverconfig.launch import ServerView
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Server
from tfsctl.spec.runtimes.docker import DockerOptions

#: Where the model root is mounted in the container, and the ports the server listens on
#: there (tensorflow/serving's defaults); the spec's ports are published onto these.
CONTAINER_MODEL_ROOT = "/models"
CONTAINER_GRPC_PORT, CONTAINER_REST_PORT = 8500, 8501


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

    def seen_root(self, model_root: str) -> str:
        return CONTAINER.root

    def view(self, server: Server) -> ServerView:
        return CONTAINER.view()

    def settings(self, server: Server, args: tuple[str, ...]) -> dict[str, Any]:
        return {**super().settings(server, args), **CONTAINER.settings(self.options(server).image)}

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


def container_spec(server: str, launch: Launch) -> ContainerSpec:
    return ContainerSpec(
        name=container_name(server),
        server=server,
        image=launch.image,
        args=launch.args,
        env=tuple(sorted(launch.env.items())),
        ports=(PortBinding(CONTAINER_GRPC_PORT, launch.bind_address, launch.grpc_port),
               PortBinding(CONTAINER_REST_PORT, launch.bind_address, launch.rest_port)),
        mounts=(Mount(launch.model_root, CONTAINER_MODEL_ROOT, read_only=True),),
        config_hash=launch.config_hash,
        settings=json.dumps(dict(launch.settings), sort_keys=True, separators=(",", ":")),
        cpus=launch.cpus,
        memory_bytes=launch.memory_bytes,
    )


class Driver(RuntimeDriver):
    """The server's container on the engine of DOCKER_HOST (or the default socket)."""

    def __init__(self, target: RuntimeTarget, containers: Containers | None = None):
        super().__init__(target)
        self.containers = containers or Containers()
        self._started: ObservedContainer | None = None  # as it was right after this driver started it

    @property
    def server(self) -> str:
        return self.target.server

    def observe(self, image: str) -> RuntimeState:
        try:
            container = self.containers.observe(self.server)
            wanted = self.containers.image_id(image)
        except EngineUnavailable as exc:
            return RuntimeState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        if container is None:
            return RuntimeState(RuntimeStatus.MISSING, wanted_image_id=wanted)
        settings = tuple(sorted(container.settings.items())) if container.settings is not None else None
        return RuntimeState(
            RuntimeStatus.RUNNING if container.running else RuntimeStatus.STOPPED,
            config_hash=container.config_hash, settings=settings, image_id=container.image_id,
            wanted_image_id=wanted, identity=container.id,
            detail="" if container.running else f"{container.status.value} (exit {container.exit_code})")

    def undo_for(self, step: Step) -> RuntimeUndo:
        current = self.containers.observe(self.server)
        if step is Step.CREATE or current is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        kind = RuntimeUndoKind.RESTORE_PREVIOUS if step is Step.REPLACE else RuntimeUndoKind.RESTART
        return RuntimeUndo(kind, was_running=current.running)

    def _port_taken(self, error: PortInUse) -> PortInUse:
        """The engine's refusal, with the program holding the port where the system says."""
        for name, port in (("gRPC", self.target.grpc_port), ("REST", self.target.rest_port)):
            holder = ports.holder(port)
            if holder is not None:
                return PortInUse(f"{name} port {port} is already in use by {ports.describe(holder)}",
                                 error.hint)
        return error

    def _watch(self) -> None:
        self._started = self.containers.observe(self.server)

    def create(self, launch: Launch) -> None:
        self.containers.remove(self.server)  # a stopped leftover of ours, if any
        try:
            self.containers.create(container_spec(self.server, launch))
        except PortInUse as exc:
            raise self._port_taken(exc) from None
        self._watch()

    def replace(self, launch: Launch) -> None:
        """Create-first; the old container is kept aside until commit. Containers still aside
        from an earlier replace are garbage by now (an interrupted one was undone before this
        apply planned), so they go first."""
        self.containers.discard_previous(self.server)
        try:
            self.containers.replace(container_spec(self.server, launch))
        except PortInUse as exc:
            raise self._port_taken(exc) from None
        self._watch()

    def restart(self, launch: Launch) -> None:
        """Same container (its settings did not change), restarted to re-read its side files."""
        self.containers.restart(self.server)
        self._watch()

    def check_started(self) -> None:
        started = self._started
        now = self.containers.observe(self.server)
        if started is None:  # not started by this apply: it must simply keep running
            if now is not None and not now.running:
                raise ServerExited(f"the container of {self.server!r} stopped while apply waited "
                                   f"(exit code {now.exit_code})",
                                   "its log ends with:\n" + self.containers.logs_tail(self.server, 8))
            return
        if now is None or now.id != started.id:
            raise ServerExited(f"the container apply started for {self.server!r} is gone",
                               "something else removed or replaced it meanwhile")
        if now.running and now.restart_count == started.restart_count:
            return
        why = f"exit code {now.exit_code}" if now.exit_code is not None else \
            f"restarted {now.restart_count - started.restart_count} times"
        raise ServerExited(f"the container of {self.server!r} stopped while starting ({why})",
                           "its log ends with:\n" + self.containers.logs_tail(self.server, 8))

    def undo(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.REMOVE:
            self.containers.remove(self.server)
        elif undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS:
            restored = self.containers.restore_previous(self.server, start=undo.was_running)
            if not restored and undo.was_running:
                self.revive()  # stopped, but not yet renamed aside, when the apply ended
        elif undo.was_running:  # restart again, to re-read the restored side files
            self.containers.restart(self.server)

    def commit(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS:
            self.containers.discard_previous(self.server)

    def revive(self) -> bool:
        current = self.containers.observe(self.server)
        if current is None or current.running:
            return False
        self.containers.restart(self.server)
        self._watch()
        return True

    def destroy(self) -> None:
        self.containers.remove(self.server)
