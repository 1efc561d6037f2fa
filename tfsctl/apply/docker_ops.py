"""Apply's runtime operations for `runtime: docker`, on top of DockerRuntime.

The container is built from the desired runtime: the model root mounted
read-only at /models, the server's ports published on the spec's bind address,
and the hash of the desired runtime stamped as a label, so the next plan can
tell whether it still matches (docker-compose's config_hash).
"""

from __future__ import annotations

from tfsctl.apply.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.plan.model import ServerAction
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.runtimes.docker import ContainerSpec, DockerRuntime, Mount, PortBinding
from tfsctl.spec.model import CONTAINER_MODEL_ROOT


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


class DockerOps:
    def __init__(self, server: str, grpc_port: int, rest_port: int,
                 runtime: DockerRuntime | None = None):
        self.server = server
        self.grpc_port, self.rest_port = grpc_port, rest_port
        self.runtime = runtime or DockerRuntime()

    def undo_for(self, action: ServerAction) -> RuntimeUndo:
        current = self.runtime.observe(self.server)
        if action is ServerAction.CREATE or current is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        kind = RuntimeUndoKind.RESTORE_PREVIOUS if action is ServerAction.REPLACE else RuntimeUndoKind.RESTART
        return RuntimeUndo(kind, was_running=current.running)

    def create(self, desired: DesiredRuntime) -> None:
        self.runtime.remove(self.server)  # a stopped leftover of ours, if any
        self.runtime.create(container_spec(desired, self.grpc_port, self.rest_port))

    def replace(self, desired: DesiredRuntime) -> None:
        """Create-first: the old container is kept aside until commit (see DockerRuntime.replace).

        Containers still aside from an earlier replace are garbage by now (an interrupted one
        was undone before this apply planned), so they go first.
        """
        self.runtime.discard_previous(self.server)
        self.runtime.replace(container_spec(desired, self.grpc_port, self.rest_port))

    def restart(self, desired: DesiredRuntime) -> None:
        """Same container (its settings did not change), restarted to re-read its side files."""
        self.runtime.restart(self.server)

    def undo(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.REMOVE:
            self.runtime.remove(self.server)
        elif undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS:
            restored = self.runtime.restore_previous(self.server, start=undo.was_running)
            if not restored and undo.was_running:
                self.revive()  # stopped, but not yet renamed aside, when the apply ended
        elif undo.was_running:  # restart again, to re-read the restored side files
            self.runtime.restart(self.server)

    def commit(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS:
            self.runtime.discard_previous(self.server)

    def revive(self) -> bool:
        current = self.runtime.observe(self.server)
        if current is None or current.running:
            return False
        self.runtime.restart(self.server)
        return True

    def destroy(self) -> None:
        self.runtime.remove(self.server)
