"""Wire the executor's effects to the real world for one server.

This is the only place that knows which runtime module, which exporter and
which status probe a server uses; the executor sees just an `ApplyContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tfsctl.apply.executor import ApplyContext, RuntimeOps
from tfsctl.apply.server_client import Endpoint, predict, reachable_host, reload_config
from tfsctl.live.state import ServedModel
from tfsctl.runtimes.desired import CONTAINER_GRPC_PORT, CONTAINER_REST_PORT
from tfsctl.spec.model import Runtime, Server, VersionSpec


def endpoint_for(server: Server) -> Endpoint:
    return Endpoint(reachable_host(str(server.bind_address)), server.ports.grpc, server.ports.rest)


def runtime_ops(server: Server) -> RuntimeOps:
    if server.runtime is Runtime.DOCKER:
        from tfsctl.apply.docker_ops import DockerOps

        return DockerOps(server, CONTAINER_GRPC_PORT, CONTAINER_REST_PORT)
    from tfsctl.apply.local_ops import LocalOps

    return LocalOps(server)


def _export(version: VersionSpec, target: Path, progress: Callable[[str], None]) -> Any:
    from tfsctl.export.exporters import export_version

    assert version.source is not None, "the planner exports only versions with a source"
    return export_version(version.source, target, progress=progress)


def _probe(endpoint: Endpoint, model: str) -> ServedModel | None:
    from tfsctl.live.report import fetch_model_status

    return fetch_model_status(endpoint.rest, model)


def context_for(server: Server, progress: Callable[[str], None], timeout: float) -> ApplyContext:
    endpoint = endpoint_for(server)
    return ApplyContext(
        ops=runtime_ops(server),
        probe=partial(_probe, endpoint),
        reload=partial(reload_config, endpoint, timeout=timeout),
        export=_export,
        predict=partial(predict, endpoint),
        progress=progress,
        timeout=timeout,
    )
