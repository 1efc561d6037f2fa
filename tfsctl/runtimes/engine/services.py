"""tfsctl's Swarm services on a manager engine: found by label, rolled, watched per task.

The counterpart of containers.py for a swarm. A server's service carries the same
labels as a container (managed, server, config hash, settings), so observing it is
a label query. Each model.config is a Swarm config named by its content hash:
configs are immutable, so every task keeps the config it started with, and a new
config is a new service spec, i.e. a rolling update.

The SDK talks to the engine API at a version where creating or updating a service
never asks a registry about the image (the CLI's `--no-resolve-image`): tasks use
the image as each node has it (dockerd with DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1
does not pull it either).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tfsctl.runtimes.engine.container_spec import CONFIG_HASH_LABEL, MANAGED_LABEL, SERVER_LABEL
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.engine.errors import DockerRuntimeError, engine_call
from tfsctl.runtimes.engine.service_spec import IMAGE_ID_LABEL, ServiceSpec, service_kwargs

#: Swarm's update states that end a rollout, and those that say it failed.
_DONE, _FAILED = {"completed", "rollback_completed"}, {"rollback_completed", "rollback_paused",
                                                       "paused"}
#: A task's states while its container runs.
_LIVE = {"starting", "running"}


@dataclass(frozen=True)
class Task:
    """One task of a service, as the manager reports it."""

    id: str
    slot: int
    node: str
    state: str
    desired: str
    config_hash: str | None
    error: str


@dataclass(frozen=True)
class ObservedService:
    id: str
    labels: dict[str, str]
    replicas: int
    image_id: str | None
    update_state: str | None
    update_message: str
    tasks: tuple[Task, ...]  # desired to run
    #: slot -> (failed tasks of the current spec in Swarm's task history, the last error)
    restarts: dict[int, tuple[int, str]]
    #: tasks told to shut down whose container still runs (and may still answer)
    stopping: int = 0


#: How long `converge` waits, once the update is done, for the tasks beyond the replicas to
#: stop: the old ones (Swarm stops them after the new ones run; they get the stop grace
#: period, 10 s) and any Swarm left over.
SURPLUS_GRACE = 15.0


class Services:
    """tfsctl's services on the swarm whose manager is this engine."""

    def __init__(self, containers: Containers | None = None):
        self.containers = containers or Containers()

    @property
    def client(self) -> Any:
        return self.containers.client

    # -- reading ------------------------------------------------------------

    def _find(self, name: str) -> Any | None:
        with engine_call(f"list services named {name}"):
            found = [s for s in self.client.services.list(filters={"name": name})
                     if s.name == name and s.attrs["Spec"].get("Labels", {}).get(MANAGED_LABEL)]
        return found[0] if found else None

    def swarm_manager(self) -> bool:
        with engine_call("ask the engine whether it manages a swarm"):
            info = self.client.info().get("Swarm") or {}
        return bool(info.get("ControlAvailable"))

    def nodes(self) -> dict[str, str]:
        with engine_call("list swarm nodes"):
            return {n.id: n.attrs["Description"]["Hostname"] for n in self.client.nodes.list()}

    def observe(self, name: str) -> ObservedService | None:
        service = self._find(name)
        if service is None:
            return None
        spec = service.attrs["Spec"]
        nodes = self.nodes()
        with engine_call(f"list the tasks of {name}"):
            raw = service.tasks()
        running, failures, stopping = [], Counter[int](), 0
        last_error: dict[int, str] = {}
        current = (spec.get("Labels") or {}).get(CONFIG_HASH_LABEL)
        for task in sorted(raw, key=lambda t: str(t.get("CreatedAt", ""))):
            status = task.get("Status") or {}
            slot = int(task.get("Slot") or 0)
            config_hash = (task["Spec"]["ContainerSpec"].get("Labels") or {}).get(CONFIG_HASH_LABEL)
            if task.get("DesiredState") == "running":
                running.append(Task(task["ID"], slot, nodes.get(task.get("NodeID", ""), "?"),
                                    str(status.get("State", "?")), "running",
                                    config_hash, str(status.get("Err", ""))))
            elif status.get("State") in _LIVE:
                stopping += 1
            elif status.get("State") in ("failed", "rejected") and config_hash == current:
                # failures of the current spec only: a rolled-back update's are history
                failures[slot] += 1
                last_error[slot] = str(status.get("Err", ""))
        update = service.attrs.get("UpdateStatus") or {}
        return ObservedService(
            id=service.id, labels=dict(spec.get("Labels") or {}),
            replicas=int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0)),
            image_id=(spec.get("Labels") or {}).get(IMAGE_ID_LABEL),
            update_state=update.get("State"), update_message=str(update.get("Message", "")),
            tasks=tuple(sorted(running, key=lambda t: t.slot)),
            restarts={slot: (count, last_error[slot]) for slot, count in failures.items()},
            stopping=stopping)

    # -- changing -----------------------------------------------------------

    def ensure_network(self, name: str, server: str) -> None:
        """An attachable overlay network for the service's tasks and its proxy container.
        Docker's name filter matches substrings, so the match is exact."""
        with engine_call(f"create network {name}"):
            if not any(n.name == name for n in self.client.networks.list(names=[name])):
                self.client.networks.create(name, driver="overlay", attachable=True, labels={
                    MANAGED_LABEL: "true", SERVER_LABEL: server})

    def _config_id(self, spec: ServiceSpec) -> str:
        with engine_call(f"create config {spec.config_name}"):
            found = self.client.configs.list(filters={"name": spec.config_name})
            exact = [c for c in found if c.name == spec.config_name]
            if exact:
                return str(exact[0].id)
            made = self.client.configs.create(name=spec.config_name, data=spec.config.encode(),
                                              labels={MANAGED_LABEL: "true",
                                                      SERVER_LABEL: spec.server})
            return str(made.id)

    def create(self, spec: ServiceSpec) -> None:
        self.ensure_network(spec.network, spec.server)
        kwargs = service_kwargs(spec, self._config_id(spec))
        with engine_call(f"create service {spec.name}", spec.image):
            self.client.services.create(**kwargs)

    def update(self, spec: ServiceSpec, force: bool = False) -> None:
        """A rolling update to `spec` (start-first, health-gated, rolled back on failure);
        `force` rolls the tasks even when the spec is the same (to re-read side files)."""
        service = self._find(spec.name)
        if service is None:
            raise DockerRuntimeError(f"service {spec.name} does not exist", "run tfsctl apply")
        kwargs = service_kwargs(spec, self._config_id(spec))
        kwargs.pop("name")
        with engine_call(f"update service {spec.name}", spec.image):
            if force:  # the SDK bumps the spec's ForceUpdate counter
                kwargs["force_update"] = True
            service.update(**kwargs)

    def rollback(self, name: str) -> bool:
        """Swarm's own rollback to the service's previous spec; False without one."""
        service = self._find(name)
        if service is None or not service.attrs.get("PreviousSpec"):
            return False
        with engine_call(f"roll back service {name}"):
            previous = service.attrs["PreviousSpec"]
            self.client.api.update_service(service.id, service.version,
                                           task_template=previous["TaskTemplate"],
                                           labels=previous.get("Labels"),
                                           mode=previous.get("Mode"),
                                           update_config=previous.get("UpdateConfig"),
                                           rollback_config=previous.get("RollbackConfig"),
                                           networks=previous.get("Networks"),
                                           endpoint_spec=previous.get("EndpointSpec"),
                                           name=name)
        return True

    def previous_hash(self, name: str) -> str | None:
        service = self._find(name)
        previous = service.attrs.get("PreviousSpec") if service is not None else None
        return (previous.get("Labels") or {}).get(CONFIG_HASH_LABEL) if previous else None

    def converge(self, name: str, config_hash: str, timeout: float,
                 poll: float = 0.25) -> ObservedService:
        """Wait until the service's spec is the one stamped `config_hash`, its rollout is over,
        every task it wants runs that spec (a running task passed its healthcheck) and the
        old tasks have stopped (until then the proxy may still send them requests, which
        the old spec answers); raises at once if Swarm rolled the update back, or at the
        deadline."""
        deadline = time.monotonic() + timeout
        surplus_since: float | None = None
        while True:
            found = self.observe(name)
            if found is None:
                raise DockerRuntimeError(f"service {name} disappeared while rolling out",
                                         "see `docker service ps` and the engine's log")
            current = found.labels.get(CONFIG_HASH_LABEL) == config_hash
            if found.update_state in _FAILED and (not current or found.update_state != "rollback_completed"):
                raise DockerRuntimeError(
                    f"the rolling update of {name} failed and Swarm rolled it back "
                    f"({found.update_state}: {found.update_message})",
                    f"see `docker service ps --no-trunc {name}`")
            ready = [t for t in found.tasks if t.state == "running" and t.config_hash == config_hash]
            done = current and (found.update_state in _DONE or found.update_state is None)
            if done and len(ready) == len(found.tasks) == found.replicas and not found.stopping:
                return found
            if done and len(ready) >= found.replicas:
                # every replica runs the new spec, and old tasks are still stopping, or Swarm
                # left a task more (seen after a task was killed mid-update): waited on for a
                # grace, then not any more (observe() reports a surplus)
                surplus_since = surplus_since or time.monotonic()
                if time.monotonic() - surplus_since > SURPLUS_GRACE:
                    return found
            if time.monotonic() > deadline:
                states = ", ".join(f"{t.slot}:{t.state}" for t in found.tasks) or "none"
                raise DockerRuntimeError(
                    f"service {name} did not converge within {timeout:.0f}s (update "
                    f"{found.update_state or 'none'}; tasks {states})",
                    f"see `docker service ps --no-trunc {name}`")
            time.sleep(poll)

    def remove(self, name: str, server: str, timeout: float = 60) -> bool:
        """Delete the service, then its configs and network once its tasks are gone (given
        up on after `timeout`: a leftover network or config is harmless)."""
        import docker.errors

        service = self._find(name)
        if service is not None:
            with engine_call(f"remove service {name}"):
                service.remove()
        deadline = time.monotonic() + timeout
        while True:  # the tasks stop after the service is gone, and hold both until then
            self.prune_configs(server, keep=())
            with engine_call(f"remove network {name}"):
                left = 0
                for network in self.client.networks.list(names=[name]):
                    if (network.attrs.get("Labels") or {}).get(SERVER_LABEL) != server:
                        continue
                    try:
                        network.remove()
                    except docker.errors.APIError:  # a task still stopping
                        left += 1
            if not left or time.monotonic() > deadline:
                return service is not None
            time.sleep(1)

    def prune_configs(self, server: str, keep: tuple[str, ...]) -> None:
        """Delete the server's configs not named in `keep` (one still in use stays)."""
        import docker.errors

        with engine_call(f"list the configs of {server}"):
            configs = self.client.configs.list(filters={"label": [f"{SERVER_LABEL}={server}"]})
        for config in configs:
            if config.name in keep:
                continue
            with contextlib.suppress(docker.errors.APIError):  # still used by a task
                config.remove()
