"""A `runtime: swarm` server's gateways: Swarm services of `python -m tfsctl.gateway`.

A swarm server's ports are published by its proxy container on this engine, the
manager (swarm.py); its gateway is a service of one task pinned to this same node, on
the host's network, in the image docker gateways use (gateway_image.py: the derived
image with `requirements:`, the handler's directory at /handler). So it listens on the
gateway's port of the server's bind address, where the proxy answers, and Swarm
restarts its task if it dies.

The swap is the other runtimes': the new service's task listens beside the current
one's (SO_REUSEPORT) and on a private verify port; promoting removes the current
service (its task finishes what it is answering). Services cannot be renamed, so a
gateway alternates between `tfsctl-gw-<server>-<name>-a` and `-b`: the older of the
two that exist is the current one.
"""

from __future__ import annotations

import time
from typing import Any

from tfsctl.runtimes import ports
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget, ServerExited
from tfsctl.runtimes.engine.errors import DockerRuntimeError, engine_call
from tfsctl.runtimes.gateway import GatewayDriver, GatewayLaunch, GatewayState
from tfsctl.runtimes.gateway_image import (
    ENTRYPOINT,
    NAME_LABEL,
    SERVER_LABEL,
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

_NS = 1_000_000_000
#: how long a removed service's task may take to stop (its grace period is 10 s)
STOPPED_WITHIN = 60.0


class SwarmGatewayProfile(ImageGatewayProfile):
    noun = "service"


PROFILE = SwarmGatewayProfile()


class Driver(GatewayDriver):
    def __init__(self, target: RuntimeTarget, name: str):
        super().__init__(target, name)
        self._base = f"tfsctl-gw-{target.server}-{name}"
        self._next = ""
        self._verify_port = 0
        self._launch: GatewayLaunch | None = None
        self.engine = Engine()

    @staticmethod
    def names(target: RuntimeTarget) -> tuple[str, ...]:
        return gateway_names(target.server, "services", lambda client, filters: (
            s.attrs["Spec"].get("Labels") or {} for s in client.services.list(filters=filters)))

    def _services(self) -> list[Any]:
        """This gateway's services, oldest first."""
        with engine_call(f"list the services of gateway {self.name}"):
            found = self.engine.client.services.list(filters={"label": [
                f"{SERVER_LABEL}={self.target.server}", f"{NAME_LABEL}={self.name}"]})
        return sorted(found, key=lambda s: str(s.attrs.get("CreatedAt", "")))

    def _current(self) -> Any | None:
        return next((s for s in self._services() if s.name != self._next), None)

    def observe(self) -> GatewayState:
        try:
            found = self._services()
            if not found:
                return GatewayState(RuntimeStatus.MISSING)
            with engine_call(f"list the tasks of {found[0].name}"):
                tasks = found[0].tasks(filters={"desired-state": "running"})
        except DockerRuntimeError as exc:
            return GatewayState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        running = any((t.get("Status") or {}).get("State") == "running" for t in tasks)
        return state_of(found[0].attrs["Spec"].get("Labels") or {}, running, found[0].short_id,
                        f"service {found[0].name} has no running task")

    def start(self, launch: GatewayLaunch) -> None:
        current = self._current()
        for leftover in self._services()[1:]:  # the new service of an interrupted apply
            self._remove(leftover)
        slot = "b" if current is not None and current.name.endswith("-a") else "a"
        self._next = f"{self._base}-{slot}"
        ensure_image(self.engine.client, launch)
        self._verify_port = ports.free_loopback_port()
        self._launch = launch
        import docker.types as t

        with engine_call("ask the engine for its swarm node"):
            node = (self.engine.client.info().get("Swarm") or {}).get("NodeID", "")
        stamped = labels(launch, self.target.server, self.name)
        with engine_call(f"create the gateway service {self._next}", launch.image):
            self.engine.client.services.create(
                launch.image, command=list(ENTRYPOINT), args=command(launch, self._verify_port),
                name=self._next, labels=stamped, container_labels=stamped,
                env=[f"{k}={v}" for k, v in launch.env], networks=["host"],
                mounts=[handler_mount(launch)], constraints=[f"node.id=={node}"],
                mode=t.ServiceMode("replicated", replicas=1),
                restart_policy=t.RestartPolicy(condition="any", delay=1 * _NS),
                stop_grace_period=10 * _NS)

    @property
    def verify_url(self) -> str:
        return f"http://127.0.0.1:{self._verify_port}"

    def check_started(self) -> None:
        found = next((s for s in self._services() if s.name == self._next), None)
        if found is None:
            raise ServerExited(f"its new service {self._next} disappeared while starting")
        with engine_call(f"list the tasks of {self._next}"):
            failed = [task for task in found.tasks()
                      if (task.get("Status") or {}).get("State") in ("failed", "rejected")]
        if failed and self._launch is not None:
            with engine_call(f"read the log of {self._next}"):
                log = b"".join(found.logs(stdout=True, stderr=True, tail=6)).decode(
                    errors="replace")
            status = failed[0].get("Status") or {}
            raise ServerExited(f"its new service's task {status.get('State')} while starting "
                               f"({status.get('Err', '')}); its log ends with:\n"
                               f"{host_paths(log, self._launch).rstrip()}",
                               "fix the handler and apply again")

    def _remove(self, service: Any) -> None:
        """Remove the service and wait until its task's container is gone (Swarm stops it
        after the service: it finishes what it is answering, within the grace period)."""
        with engine_call(f"remove service {service.name}"):
            service.remove()
        deadline = time.monotonic() + STOPPED_WITHIN
        label = f"com.docker.swarm.service.name={service.name}"
        while time.monotonic() < deadline:
            with engine_call(f"list the containers of {service.name}"):
                if not self.engine.client.containers.list(filters={"label": label}):
                    return
            time.sleep(0.2)
        raise DockerRuntimeError(f"the task of service {service.name} did not stop within "
                                 f"{STOPPED_WITHIN:g}s", f"see `docker ps -f label={label}`")

    def promote(self) -> None:
        current = self._current()
        if current is not None:
            self._remove(current)
        self._next = ""

    def discard(self) -> None:
        for service in self._services():
            if service.name == self._next:
                self._remove(service)
        self._next = ""

    def destroy(self) -> None:
        for service in self._services():
            self._remove(service)
