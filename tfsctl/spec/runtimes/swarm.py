"""The options of `runtime: swarm` (a Docker Swarm service of tasks behind HAProxy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import DEFAULT_IMAGE
from tfsctl.spec.runtimes.parts import Image, Replicas, Resources


class SwarmOptions(Strict):
    """`runtime: swarm`: a service of `replicas` tasks, each a container as docker makes one."""

    runtime: Literal["swarm"] = Field(description="swarm: a Docker Swarm service of `replicas` "
                                                  "tasks behind HAProxy.")
    image: Image = Field(default=DEFAULT_IMAGE, description="Every task's Docker image.")
    resources: Resources = Field(default_factory=Resources,
                                 description="Every task's CPU and memory limits.")
    replicas: Replicas = Field(default=1, description="How many tasks serve (and the "
                               "Kubernetes manifests' copies).")
