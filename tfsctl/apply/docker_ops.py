"""Apply's runtime operations for `runtime: docker`, on top of DockerRuntime.

The container is built from the desired runtime: the model root mounted
read-only at /models, the server's ports published on the spec's bind address,
and the hash of the desired runtime stamped as a label, so the next plan can
tell whether it still matches (docker-compose's config_hash).
"""

from __future__ import annotations

from dataclasses import dataclass

from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.runtimes.docker import ContainerSpec, DockerRuntime, Mount, PortBinding, Replacement
from tfsctl.spec.model import CONTAINER_MODEL_ROOT, Server


def container_name(server: str) -> str:
    return f"tfsctl-{server}"


def container_spec(desired: DesiredRuntime, grpc_port: int, rest_port: int) -> ContainerSpec:
    return ContainerSpec(
        name=container_name(desired.server),
        server=desired.server,
        image=desired.image,
        args=desired.args,
        env=tuple(desired.plain_env().items()),
        ports=(PortBinding(grpc_port, desired.bind_address, desired.grpc_port),
               PortBinding(rest_port, desired.bind_address, desired.rest_port)),
        mounts=(Mount(desired.model_root, CONTAINER_MODEL_ROOT, read_only=True),),
        cpus=desired.cpus,
        memory_bytes=desired.memory_bytes,
        config_hash=desired.config_hash(),
    )


@dataclass
class _Done:
    """A change with nothing left to take back (or take back by undoing it)."""

    undo: object = None

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        if callable(self.undo):
            self.undo()


class DockerOps:
    def __init__(self, server: Server, grpc_port: int, rest_port: int,
                 runtime: DockerRuntime | None = None):
        self.server = server
        self.grpc_port, self.rest_port = grpc_port, rest_port
        self.runtime = runtime or DockerRuntime()

    def _spec(self, desired: DesiredRuntime) -> ContainerSpec:
        return container_spec(desired, self.grpc_port, self.rest_port)

    def create(self, desired: DesiredRuntime) -> _Done:
        self.runtime.remove(self.server.name)  # a stopped leftover of ours, if any
        self.runtime.create(self._spec(desired))
        return _Done(lambda: self.runtime.remove(self.server.name))

    def replace(self, desired: DesiredRuntime) -> Replacement:
        return self.runtime.replace(self._spec(desired))

    def restart(self, desired: DesiredRuntime) -> _Done:
        self.runtime.restart(self.server.name)
        return _Done(lambda: self.runtime.restart(self.server.name))

    def destroy(self) -> None:
        self.runtime.remove(self.server.name)
