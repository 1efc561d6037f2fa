"""Wire the executor's effects to the real world for one server.

This is the only place that knows which runtime module, which exporter and
which status probe a server uses; the executor sees just an `ApplyContext`.
What undoing an apply needs is a `ServerTarget`: plain data, so that the
guardian process (guardian.py) can rebuild the same effects without the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from tfsctl.apply.executor import ApplyContext
from tfsctl.apply.ops import RuntimeOps
from tfsctl.apply.server_client import Endpoint, predict, reachable_host, reload_config
from tfsctl.live.state import ServedModel
from tfsctl.runtimes.desired import CONTAINER_GRPC_PORT, CONTAINER_REST_PORT
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model import Runtime, Server, VersionSpec


@dataclass(frozen=True)
class ServerTarget:
    """Which server, where its state lives and how to reach it."""

    server: str
    runtime: str
    state_dir: str
    host: str
    grpc_port: int
    rest_port: int
    timeout: float

    @classmethod
    def of(cls, server: Server, timeout: float) -> ServerTarget:
        return cls(server.name, server.runtime.value, str(server.resolved_state_dir),
                   reachable_host(str(server.bind_address)), server.ports.grpc, server.ports.rest,
                   timeout)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.grpc_port, self.rest_port)

    def ops(self) -> RuntimeOps:
        if self.runtime == Runtime.DOCKER.value:
            from tfsctl.apply.docker_ops import DockerOps

            return DockerOps(self.server, CONTAINER_GRPC_PORT, CONTAINER_REST_PORT)
        from tfsctl.apply.local_ops import LocalOps

        return LocalOps(Path(self.state_dir))

    def reload(self, entries: tuple[ModelEntry, ...]) -> None:
        reload_config(self.endpoint, entries, timeout=self.timeout)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _export(version: VersionSpec, target: Path, progress: Callable[[str], None]) -> Any:
    from tfsctl.export.exporters import export_version

    assert version.source is not None, "the planner exports only versions with a source"
    return export_version(version.source, target, progress=progress)


def _probe(endpoint: Endpoint, model: str) -> ServedModel | None:
    from tfsctl.live.report import fetch_model_status

    return fetch_model_status(endpoint.rest, model)


def context_for(server: Server, progress: Callable[[str], None], timeout: float) -> ApplyContext:
    from tfsctl.apply.guardian import spawn_guardian

    target = ServerTarget.of(server, timeout)
    return ApplyContext(
        ops=target.ops(),
        probe=partial(_probe, target.endpoint),
        reload=target.reload,
        export=_export,
        predict=partial(predict, target.endpoint),
        progress=progress,
        timeout=timeout,
        guard=partial(spawn_guardian, target),
    )
