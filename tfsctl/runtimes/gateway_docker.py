"""A `runtime: docker` server's gateways: containers of `python -m tfsctl.gateway`.

Each runs on the host's network with the handler's directory mounted at /handler, in
its image or the one derived from it with its requirements (gateway_image.py): the
same swap as the local runtime's, with containers `tfsctl-gw-<server>-<name>` and its
`-next`.
"""

from __future__ import annotations

from typing import Any

from tfsctl.runtimes import ports
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget, ServerExited
from tfsctl.runtimes.engine.errors import DockerRuntimeError, engine_call
from tfsctl.runtimes.gateway import GatewayDriver, GatewayLaunch, GatewayState
from tfsctl.runtimes.gateway_image import (
    ENTRYPOINT,
    Engine,
    ImageGatewayProfile,
    command,
    ensure_image,
    gateway_names,
    handler_mount,
    host_paths,
    labels,
    state_of,
)


class DockerGatewayProfile(ImageGatewayProfile):
    noun = "container"


PROFILE = DockerGatewayProfile()


class Driver(GatewayDriver):
    def __init__(self, target: RuntimeTarget, name: str):
        super().__init__(target, name)
        self._current = f"tfsctl-gw-{target.server}-{name}"
        self._next = f"{self._current}-next"
        self._verify_port = 0
        self._launch: GatewayLaunch | None = None
        self.engine = Engine()

    @staticmethod
    def names(target: RuntimeTarget) -> tuple[str, ...]:
        return gateway_names(target.server, "containers", lambda client, filters: (
            c.labels for c in client.containers.list(all=True, filters=filters)))

    def _get(self, name: str) -> Any | None:
        import docker.errors

        try:
            with engine_call(f"inspect container {name}"):
                return self.engine.client.containers.get(name)
        except DockerRuntimeError as exc:
            if isinstance(exc.__cause__, docker.errors.NotFound) or "No such" in exc.message:
                return None
            raise

    def observe(self) -> GatewayState:
        try:
            found = self._get(self._current) or self._get(self._next)
        except DockerRuntimeError as exc:
            return GatewayState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        if found is None:
            return GatewayState(RuntimeStatus.MISSING)
        return state_of(found.labels, found.status == "running", found.short_id,
                        f"container {found.name} is {found.status}")

    def start(self, launch: GatewayLaunch) -> None:
        self._remove(self._next)
        ensure_image(self.engine.client, launch)
        self._verify_port = ports.free_loopback_port()
        self._launch = launch
        with engine_call(f"start the gateway container {self._next}", launch.image):
            container = self.engine.client.containers.create(
                launch.image, command(launch, self._verify_port), entrypoint=list(ENTRYPOINT),
                name=self._next, detach=True, network_mode="host",
                environment=[f"{k}={v}" for k, v in launch.env], mounts=[handler_mount(launch)],
                labels=labels(launch, self.target.server, self.name),
                restart_policy={"Name": "unless-stopped"})
            container.start()

    @property
    def verify_url(self) -> str:
        return f"http://127.0.0.1:{self._verify_port}"

    def check_started(self) -> None:
        container = self._get(self._next)
        if container is None or container.status in ("exited", "dead") or \
                container.attrs.get("RestartCount", 0) > 0:
            logs = "" if container is None or self._launch is None else host_paths(
                bytes(container.logs(tail=6)).decode(errors="replace"), self._launch)
            raise ServerExited(f"its new container exited while starting; its log ends with:\n"
                               f"{logs.rstrip()}", "fix the handler and apply again")

    def _remove(self, name: str) -> None:
        container = self._get(name)
        if container is not None:
            with engine_call(f"remove container {name}"):
                container.stop(timeout=10)  # the gateway finishes what it is answering
                container.remove(force=True)

    def promote(self) -> None:
        self._remove(self._current)
        container = self._get(self._next)
        assert container is not None
        with engine_call(f"rename container {self._next}"):
            container.rename(self._current)

    def discard(self) -> None:
        self._remove(self._next)

    def destroy(self) -> None:
        self._remove(self._next)
        self._remove(self._current)
