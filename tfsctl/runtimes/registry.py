"""The runtimes tfsctl knows: the spec's `runtime:` kind -> its profile and driver.

The only place a kind is mapped to code. Runtime modules are imported when first
asked for, so validating or planning a docker server never imports the process
runtime's helpers, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from typing import Any

from tfsctl.runtimes.base import RuntimeDriver, RuntimeProfile, RuntimeTarget
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Runtime, Spec

#: kind -> the module implementing it (`PROFILE` and `Driver`)
_MODULES: dict[Runtime, str] = {
    Runtime.DOCKER: "tfsctl.runtimes.docker",
    Runtime.LOCAL: "tfsctl.runtimes.local",
    Runtime.SWARM: "tfsctl.runtimes.swarm",
}


def _module(kind: Runtime | str) -> Any:
    return import_module(_MODULES[Runtime(kind)])


def profile(kind: Runtime | str) -> RuntimeProfile:
    """What the runtime is (pure; safe for validate and plan)."""
    found: RuntimeProfile = _module(kind).PROFILE
    return found


def driver(target: RuntimeTarget) -> RuntimeDriver:
    """The runtime's effects for one server (constructing it touches nothing)."""
    made: RuntimeDriver = _module(target.runtime).Driver(target)
    return made


def runtime_checks(spec: Spec) -> Iterator[Finding]:
    """Every server's runtime-specific spec rules (run by `validate` with the spec's own)."""
    for index, server in enumerate(spec.servers):
        yield from profile(server.runtime).check(server, ("servers", index))
