"""The options of `runtime: local` (a `tfsctl serve` process on this machine)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import DEFAULT_IMAGE
from tfsctl.spec.runtimes.parts import NO_LIMITS, Resources


class LocalOptions(Strict):
    """`runtime: local`: the server is a process that sees host paths as they are."""

    runtime: Literal["local"] = Field(description="local: a `tfsctl serve` process on this "
                                                  "machine, no Docker needed.")
    allow_external_base_paths: bool = Field(default=False, description="Let base paths "
                                            "leave the model root (the process reads host "
                                            "paths as they are).")

    # It runs in no container, so it has no `image`, `resources` or `replicas` keys; these
    # answer what runtime-neutral readers ask of every runtime (the Kubernetes manifests of
    # a local server run the default image, one copy, no limits).

    @property
    def image(self) -> str:
        return DEFAULT_IMAGE

    @property
    def resources(self) -> Resources:
        return NO_LIMITS

    @property
    def replicas(self) -> int:
        return 1
