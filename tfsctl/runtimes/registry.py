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
from tfsctl.runtimes.gateway import GatewayDriver, GatewayProfile
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Runtime, Spec

#: kind -> the module implementing it (`PROFILE` and `Driver`)
_MODULES: dict[Runtime, str] = {
    Runtime.DOCKER: "tfsctl.runtimes.docker",
    Runtime.LOCAL: "tfsctl.runtimes.local",
    Runtime.SWARM: "tfsctl.runtimes.swarm",
}

#: kind -> the module running its servers' gateways (`PROFILE` and `Driver`)
_GATEWAY_MODULES: dict[Runtime, str] = {
    Runtime.DOCKER: "tfsctl.runtimes.gateway_docker",
    Runtime.LOCAL: "tfsctl.runtimes.gateway_local",
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


def gateway_profile(kind: Runtime | str) -> GatewayProfile:
    """How the runtime runs gateways (pure)."""
    found: GatewayProfile = import_module(_GATEWAY_MODULES[Runtime(kind)]).PROFILE
    return found


def gateway_driver(target: RuntimeTarget, name: str) -> GatewayDriver:
    made: GatewayDriver = import_module(_GATEWAY_MODULES[Runtime(target.runtime)]).Driver(
        target, name)
    return made


def runtime_checks(spec: Spec) -> Iterator[Finding]:
    """Every server's runtime-specific spec rules (run by `validate` with the spec's own),
    and a gateway's on a runtime that cannot run one."""
    for index, server in enumerate(spec.servers):
        yield from profile(server.runtime).check(server, ("servers", index))
    for index, gateway in enumerate(spec.gateways):
        found = spec.server(gateway.server)
        if found is not None and found.runtime not in _GATEWAY_MODULES:
            yield Finding(("gateways", index, "server"), f"server {found.name!r} runs on "
                          f"{found.runtime.value}, which cannot run gateways yet",
                          f"use a server on {' or '.join(k.value for k in _GATEWAY_MODULES)}")
