"""What a server's Swarm service is made of (pure data), and the engine's arguments for it.

Every task starts beside the old one (start-first, all replicas at once), is let in
only by its healthcheck, and is watched by Swarm only briefly after it runs: apply's
own checks follow. services.py makes and watches the services from these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

#: The image ID a service was created from (on the manager), so a rebuilt tag is seen.
IMAGE_ID_LABEL = "io.tfsctl.image-id"

_NS = 1_000_000_000
#: How long Swarm watches the new tasks of an update for failure before it completes it
#: (its default is 5 s).
MONITOR_S = 1


@dataclass(frozen=True)
class ServiceSpec:
    """Everything a server's service is made from; pure data.

    `config` is the model.config text, given to every task at `config_target`;
    `healthcheck` is the task's health command (a task takes traffic, and a rollout
    moves on, only once it passes).
    """

    name: str
    server: str
    image: str
    image_id: str | None
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = field(repr=False)
    replicas: int
    network: str
    mounts: tuple[tuple[str, str], ...]  # (host path, task path), read-only binds
    config: str
    config_target: str
    healthcheck: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    cpus: float | None = None
    memory_bytes: int | None = None
    #: how long a task may take to start (load its models) before failing health counts
    start_period_s: int = 120

    @property
    def config_name(self) -> str:
        digest = hashlib.sha256(self.config.encode()).hexdigest()[:16]
        return f"{self.name}-model-config-{digest}"


def service_kwargs(spec: ServiceSpec, config_id: str) -> dict[str, Any]:
    """The SDK's arguments for a service made from `spec`, its model.config being the
    Swarm config `config_id`."""
    import docker.types as t

    labels = dict(spec.labels)
    if spec.image_id:
        labels[IMAGE_ID_LABEL] = spec.image_id
    resources = None
    if spec.cpus or spec.memory_bytes:
        resources = t.Resources(cpu_limit=int(spec.cpus * 1e9) if spec.cpus else None,
                                mem_limit=spec.memory_bytes)
    return dict(
        image=spec.image, args=list(spec.args), name=spec.name, labels=labels,
        container_labels=labels, env=[f"{k}={v}" for k, v in spec.env],
        mode=t.ServiceMode("replicated", replicas=spec.replicas),
        networks=[spec.network], endpoint_spec=t.EndpointSpec(mode="dnsrr"),
        mounts=[t.Mount(target, source, type="bind", read_only=True)
                for source, target in spec.mounts],
        configs=[t.ConfigReference(config_id, spec.config_name,
                                   filename=spec.config_target)],
        healthcheck=t.Healthcheck(test=["CMD", *spec.healthcheck], interval=1 * _NS,
                                  timeout=10 * _NS, retries=3,
                                  start_period=spec.start_period_s * _NS),
        # start-first on every replica at once: a new copy of each starts beside the old
        # one, so capacity never drops below `replicas` and the new version answers after
        # one start instead of one per replica; a rollback is a rollout in reverse.
        # Swarm calls an update complete `monitor` after its last task runs, and apply
        # waits for that: a task runs only once its healthcheck found every version
        # served, and apply's smoke requests follow, so Swarm's own watch is short.
        update_config=t.UpdateConfig(parallelism=spec.replicas, delay=0,
                                     failure_action="rollback", monitor=MONITOR_S * _NS,
                                     max_failure_ratio=0, order="start-first"),
        rollback_config=t.RollbackConfig(parallelism=spec.replicas, delay=0,
                                         failure_action="pause", monitor=MONITOR_S * _NS,
                                         order="start-first"),
        restart_policy=t.RestartPolicy(condition="any", delay=2 * _NS),
        stop_grace_period=10 * _NS, resources=resources)
