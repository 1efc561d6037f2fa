"""The options of `runtime: docker` (one container on the Docker engine)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import DEFAULT_IMAGE
from tfsctl.spec.runtimes.parts import Image, Replicas, Resources


class DockerOptions(Strict):
    """`runtime: docker`: the server is one container on the Docker engine."""

    runtime: Literal["docker"] = Field(description="docker: one container on the Docker engine.")
    image: Image = Field(default=DEFAULT_IMAGE, description="The container's Docker image.")
    resources: Resources = Field(default_factory=Resources,
                                 description="The container's CPU and memory limits.")
    replicas: Replicas = Field(default=1, description="Copies in the Kubernetes manifests "
                               "(`tfsctl render --what kubernetes`); the docker runtime itself "
                               "runs one container, so more needs a `kubernetes:` block.")
