"""`runtime: swarm`: a Docker Swarm service of `replicas` tasks behind an HAProxy container.

For teams that outgrow one host. The server is:

* a service `tfsctl-<server>` of TF Serving tasks on an overlay network, with
  `endpoint_mode: dnsrr` (no routing mesh: it needs IPVS and pins gRPC
  connections), the model root bind-mounted read-only at /models on every node
  (so it must be a filesystem every node sees: NFS, a cluster filesystem...);
* its model.config as a Swarm config named by content hash, mounted into each
  task, so each task keeps the config it started with and a new config is a new
  service spec;
* a healthcheck in each task that passes only once every model of its config
  is AVAILABLE, with every version the config names (healthcheck.py); the engine
  lists a task in DNS only then;
* a proxy container `tfsctl-<server>-proxy` on this engine (the manager), on the
  same network and publishing the spec's ports on its bind address (proxy.py).

Every change is a rolling update: start-first, every task at once (so capacity
never drops below `replicas`), each new task gated on its healthcheck, rolled
back by Swarm if one fails, and waited for in `settle` until every task runs the
new spec (apply's verification of each task, before its own checks through the
proxy). Versions apply exports are exported while the new tasks start, between
the update and `settle`: the health gate keeps a task out of the traffic until it
serves them. So model.config is one of this runtime's settings: there is no hot
reload, and no downtime either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tfsctl.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.runtimes.base import (
    Launch,
    Member,
    RuntimeDriver,
    RuntimeState,
    RuntimeStatus,
    ServerExited,
    Step,
)
from tfsctl.runtimes.docker import (
    CONTAINER,
    CONTAINER_GRPC_PORT,
    CONTAINER_MODEL_ROOT,
    CONTAINER_REST_PORT,
)
from tfsctl.runtimes.engine.container_spec import (
    CONFIG_HASH_LABEL,
    MANAGED_LABEL,
    SERVER_LABEL,
    SETTINGS_LABEL,
    ContainerSpec,
)
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.engine.errors import DockerRuntimeError, EngineUnavailable
from tfsctl.runtimes.engine.service_spec import ServiceSpec
from tfsctl.runtimes.engine.services import ObservedService, Services
from tfsctl.runtimes.healthcheck import health_command
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.runtimes.proxy import digest, proxy_label, proxy_name, reconcile_proxy
from tfsctl.runtimes.proxy import proxy_spec as _proxy_container
from tfsctl.serverconfig.launch import ServerView, side_files
from tfsctl.serverconfig.model_config import desired_entries, render_text, server_model_config_path
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Server
from tfsctl.spec.runtimes.swarm import SwarmOptions
from tfsctl.traffic.config import render_swarm

#: Where each task finds its model.config (a Swarm config; the model root is read-only).
TASK_MODEL_CONFIG = "/run/tfsctl/model.config"


class SwarmProfile(RuntimeProfile[SwarmOptions]):
    """Each task is a container as the docker runtime makes one (its container part)."""

    options_type = SwarmOptions
    noun = "service"
    mounts_root = True
    starts_gated = True
    #: published by the proxy container, which holds the ports: it is replaced stop-first
    stops_for = frozenset({"bind_address", "ports.grpc", "ports.rest"})

    def seen_root(self, model_root: str) -> str:
        return CONTAINER.root

    def view(self, server: Server) -> ServerView:
        return CONTAINER.view()

    def settings(self, server: Server, args: tuple[str, ...]) -> dict[str, Any]:
        """The container's settings, the replicas, and the content of what each task reads at
        start (model.config, batching, monitoring): a change to any of them rolls the tasks."""
        options = self.options(server)
        found = {**super().settings(server, args), **CONTAINER.settings(options.image),
                 "replicas": options.replicas,
                 "model_config": digest(render_text(desired_entries(server, CONTAINER.root)))}
        found.update({f"files.{f.name}": digest(f.content) for f in side_files(server)})
        return found

    def rollout(self, server: Server) -> str | None:
        return (f"rolling update of {self.options(server).replicas} replica(s), start-first: each new task "
                "takes traffic only once every model it serves is AVAILABLE, and Swarm rolls "
                "back if one fails (no downtime)")

    def check(self, server: Server, where: tuple[Any, ...]) -> Iterator[Finding]:
        return self.outside_root(server, where, "swarm tasks see only the model root (mounted "
                                                "at /models on every node): move the model under it")


PROFILE = SwarmProfile()


def service_name(server: str) -> str:
    return f"tfsctl-{server}"


def _task_args(args: tuple[str, ...]) -> tuple[str, ...]:
    """The server's flags with model.config read from the task's own config file."""
    flag = "--model_config_file="
    return tuple(f"{flag}{TASK_MODEL_CONFIG}" if a.startswith(flag) else a for a in args)


def proxy_spec(server: str, launch: Launch) -> ContainerSpec:
    config = render_swarm(service_name(server), launch.replicas, CONTAINER_GRPC_PORT,
                          CONTAINER_REST_PORT)
    return _proxy_container(server, launch, config, service_name(server))


class Driver(RuntimeDriver):
    """The server's service on the swarm this engine manages, and its proxy container."""

    def __init__(self, target: Any, containers: Containers | None = None):
        super().__init__(target)
        self.containers = containers or Containers()
        self.services = Services(self.containers)

    @property
    def server(self) -> str:
        return self.target.server

    @property
    def service(self) -> str:
        return service_name(self.server)

    def _service_spec(self, launch: Launch) -> ServiceSpec:
        config_path = server_model_config_path(launch.model_root)
        with open(config_path, encoding="utf-8") as handle:  # apply wrote it for this step
            config = handle.read()
        settings = json.dumps(dict(launch.settings), sort_keys=True, separators=(",", ":"))
        return ServiceSpec(
            name=self.service, server=self.server, image=launch.image,
            image_id=self.containers.image_id(launch.image), args=_task_args(launch.args),
            env=tuple(sorted(launch.env.items())), replicas=launch.replicas,
            network=self.service, mounts=((launch.model_root, CONTAINER_MODEL_ROOT),),
            config=config, config_target=TASK_MODEL_CONFIG,
            healthcheck=health_command(CONTAINER_REST_PORT, TASK_MODEL_CONFIG),
            labels=((MANAGED_LABEL, "true"), (SERVER_LABEL, self.server),
                    (CONFIG_HASH_LABEL, launch.config_hash), (SETTINGS_LABEL, settings)),
            cpus=launch.cpus, memory_bytes=launch.memory_bytes)

    def _require_manager(self) -> None:
        if not self.services.swarm_manager():
            raise DockerRuntimeError("the Docker engine is not a swarm manager",
                                     "run scripts/swarm.sh init (docker swarm init) on it")

    # -- observing ------------------------------------------------------------

    def observe(self, image: str) -> RuntimeState:
        try:
            if not self.services.swarm_manager():
                return RuntimeState(RuntimeStatus.UNREACHABLE,
                                    detail="the Docker engine is not a swarm manager "
                                           "(scripts/swarm.sh init makes it one)")
            found = self.services.observe(self.service)
            proxy = self.containers.observe(proxy_label(self.server))
            wanted = self.containers.image_id(image)
        except EngineUnavailable as exc:
            return RuntimeState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        if found is None:
            return RuntimeState(RuntimeStatus.MISSING, wanted_image_id=wanted)
        try:
            settings = json.loads(found.labels.get(SETTINGS_LABEL, ""))
        except ValueError:
            settings = None
        running = sum(1 for t in found.tasks if t.state == "running")
        proxy_up = proxy is not None and proxy.running
        detail = f"{running}/{found.replicas} tasks running" + (
            "" if proxy_up else "; its proxy container is not running")
        if len(found.tasks) > found.replicas:
            detail += (f"; {len(found.tasks)} tasks for {found.replicas} replicas (Swarm left "
                       "one more: `docker service update --force` converges it)")
        if found.update_state and found.update_state != "completed":
            detail += f"; update {found.update_state}"
        return RuntimeState(
            RuntimeStatus.RUNNING if proxy_up and running else RuntimeStatus.STOPPED,
            config_hash=found.labels.get(CONFIG_HASH_LABEL),
            settings=tuple(sorted(settings.items())) if isinstance(settings, dict) else None,
            image_id=found.image_id, wanted_image_id=wanted, identity=found.id[:12],
            detail=detail, members=_members(self.service, found))

    def undo_for(self, step: Step) -> RuntimeUndo:
        found = self.services.observe(self.service)
        if step is Step.CREATE or found is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        proxy = self.containers.observe(proxy_label(self.server))
        return RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS, was_running=True, previous={
            "config_hash": found.labels.get(CONFIG_HASH_LABEL),
            "proxy_hash": proxy.config_hash if proxy is not None else None})

    def check_started(self) -> None:
        """The proxy must run and the service exist; the tasks are Swarm's to restart, and
        the rollout was already waited for, task by task, in `settle`."""
        proxy = self.containers.observe(proxy_label(self.server))
        if proxy is None or not proxy.running:
            raise ServerExited(f"the proxy container of {self.server!r} is not running",
                               f"see `docker logs {proxy_name(self.server)}`")
        if self.services.observe(self.service) is None:
            raise ServerExited(f"the service of {self.server!r} is gone",
                               "something else removed it meanwhile")

    # -- changing -------------------------------------------------------------

    def _proxy(self, launch: Launch) -> None:
        reconcile_proxy(self.containers, proxy_spec(self.server, launch))

    def create(self, launch: Launch) -> None:
        """The service and its proxy; `settle` waits for the tasks."""
        self._require_manager()
        self.destroy()  # leftovers of ours, if any
        self.services.create(self._service_spec(launch))
        self._proxy(launch)

    def replace(self, launch: Launch) -> None:
        """A rolling update to the new spec, begun; `settle` waits until every task runs it."""
        self._require_manager()
        self.services.update(self._service_spec(launch))

    def restart(self, launch: Launch) -> None:
        """Roll every task (start-first), so each re-reads what it reads at start."""
        self._require_manager()
        self.services.update(self._service_spec(launch), force=True)

    def settle(self, launch: Launch) -> None:
        """Until every task runs the new spec (each took traffic once its healthcheck passed),
        then the proxy as that spec wants it (its slots follow the replicas)."""
        self.services.converge(self.service, launch.config_hash, self.timeout)
        self._proxy(launch)

    def undo(self, undo: RuntimeUndo) -> None:
        if undo.kind is RuntimeUndoKind.REMOVE:
            self.destroy()
            return
        before = undo.previous.get("config_hash")
        found = self.services.observe(self.service)
        if found is not None and found.labels.get(CONFIG_HASH_LABEL) != before \
                and self.services.previous_hash(self.service) == before:
            self.services.rollback(self.service)
        if found is not None and isinstance(before, str):
            self.services.converge(self.service, before, self.timeout)
        proxy = self.containers.observe(proxy_label(self.server))
        if proxy is not None and proxy.config_hash != undo.previous.get("proxy_hash"):
            self.containers.restore_previous(proxy_label(self.server))

    def commit(self, undo: RuntimeUndo) -> None:
        """Drop the old proxy container and the configs no task or rollback needs."""
        self.containers.discard_previous(proxy_label(self.server))
        found = self.services.observe(self.service)
        if found is not None:
            self.services.prune_configs(self.server, keep=())

    def revive(self) -> bool:
        """Swarm restarts failed tasks itself; only the proxy container can be down."""
        proxy = self.containers.observe(proxy_label(self.server))
        if proxy is None or proxy.running:
            return False
        self.containers.restart(proxy_label(self.server))
        return True

    def destroy(self) -> None:
        self.containers.remove(proxy_label(self.server))
        self.services.remove(self.service, self.server)


def _members(service: str, found: ObservedService) -> tuple[Member, ...]:
    wanted = found.labels.get(CONFIG_HASH_LABEL)
    members = []
    for task in found.tasks:
        restarts, error = found.restarts.get(task.slot, (0, ""))
        members.append(Member(f"{service}.{task.slot}", task.node, task.state,
                              current=task.config_hash == wanted, restarts=restarts,
                              detail=error or task.error))
    return tuple(members)
