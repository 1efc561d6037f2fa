"""Observe the runtime of a server: its container (docker) or process (local)."""

from __future__ import annotations

from tfsctl.errors import TfsctlError
from tfsctl.live.state import RuntimeState, RuntimeStatus
from tfsctl.spec.model import Runtime, Server


def observe_runtime(server: Server) -> RuntimeState:
    if server.runtime is Runtime.LOCAL:
        from tfsctl.runtimes import local

        process = local.observe(server.resolved_state_dir)
        if process is None:
            return RuntimeState(RuntimeStatus.MISSING)
        status = RuntimeStatus.RUNNING if process.alive else RuntimeStatus.STOPPED
        return RuntimeState(status, process.config_hash, None, str(process.pid),
                            "" if process.alive else f"pid {process.pid} is not running")
    from tfsctl.runtimes.docker import ContainerStatus, DockerRuntime, EngineUnavailable

    try:
        container = DockerRuntime().observe(server.name)
    except EngineUnavailable as exc:
        return RuntimeState(RuntimeStatus.UNREACHABLE, detail=exc.message)
    except TfsctlError as exc:
        return RuntimeState(RuntimeStatus.UNREACHABLE, detail=exc.message)
    if container is None:
        return RuntimeState(RuntimeStatus.MISSING)
    running = container.status in (ContainerStatus.RUNNING, ContainerStatus.RESTARTING)
    return RuntimeState(RuntimeStatus.RUNNING if running else RuntimeStatus.STOPPED,
                        container.config_hash, container.image, container.id,
                        "" if running else f"{container.status.value} (exit {container.exit_code})")
