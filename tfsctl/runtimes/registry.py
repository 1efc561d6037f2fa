"""The runtimes tfsctl knows: a server's `runtime:` -> its profile and driver.

The only place a kind is mapped to code, by one rule: runtime `X` (a member of the
spec's registry of kinds, tfsctl/spec/runtimes/) is the module `tfsctl.runtimes.X`,
with its `PROFILE` and `Driver`. A new runtime is therefore its options model, one
line of that registry and its module here, and nothing in this file. Runtime modules
are imported when first asked for, so validating or planning a docker server never
imports the process runtime's helpers, and the other way round.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from tfsctl.runtimes.base import RuntimeDriver, RuntimeTarget
from tfsctl.runtimes.gateway import GatewayDriver, GatewayProfile
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Spec
from tfsctl.spec.runtimes import RUNTIMES


def _gateway_module(kind: str) -> str | None:
    """The module running runtime `kind`'s gateways (`PROFILE`, `Driver`), by the same rule:
    `tfsctl.runtimes.gateway_X`; None for a runtime that has none."""
    name = f"{__package__}.gateway_{kind}"
    return name if kind in RUNTIMES and find_spec(name) is not None else None


def _module(kind: str) -> Any:
    if kind not in RUNTIMES:  # a kind read from a plan file or journal, not from a spec
        raise ValueError(f"{kind!r} is not a runtime (known: {', '.join(RUNTIMES)})")
    return import_module(f"{__package__}.{kind}")


def profile(kind: str) -> RuntimeProfile[Any]:
    """What the runtime is (pure; safe for validate and plan)."""
    found: RuntimeProfile[Any] = _module(kind).PROFILE
    return found


def driver(target: RuntimeTarget) -> RuntimeDriver:
    """The runtime's effects for one server (constructing it touches nothing)."""
    made: RuntimeDriver = _module(target.runtime).Driver(target)
    return made


def _gateways_of(kind: str) -> Any:
    module = _gateway_module(kind)
    if module is None:
        raise ValueError(f"runtime {kind!r} cannot run gateways")
    return import_module(module)


def gateway_profile(kind: str) -> GatewayProfile:
    """How the runtime runs gateways (pure)."""
    found: GatewayProfile = _gateways_of(kind).PROFILE
    return found


def gateway_driver(target: RuntimeTarget, name: str) -> GatewayDriver:
    made: GatewayDriver = _gateways_of(target.runtime).Driver(target, name)
    return made


def gateway_names(target: RuntimeTarget) -> tuple[str, ...]:
    """The gateways running for `target`'s server; () on a runtime that runs none."""
    if _gateway_module(target.runtime) is None:
        return ()
    found: tuple[str, ...] = _gateways_of(target.runtime).Driver.names(target)
    return found


def runtime_checks(spec: Spec) -> Iterator[Finding]:
    """Every server's runtime-specific spec rules (run by `validate` with the spec's own),
    a canary on a runtime that cannot split traffic, and a gateway's on a runtime that
    cannot run one."""
    for index, server in enumerate(spec.servers):
        yield from profile(server.runtime).check(server, ("servers", index))
        if server.rollout.canary and not profile(server.runtime).canary:
            able = [kind for kind in RUNTIMES if profile(kind).canary]
            yield Finding(("servers", index, "rollout", "strategy"), "a canary needs a proxy "
                          f"that splits traffic by weight, which the {server.runtime} runtime "
                          f"has not; runtimes with canaries: {', '.join(able)}",
                          f"use `runtime: {' or '.join(able)}`, or `strategy: blue_green`")
    for index, gateway in enumerate(spec.gateways):
        found = spec.server(gateway.server)
        if found is not None and _gateway_module(found.runtime) is None:
            able = [kind for kind in RUNTIMES if _gateway_module(kind) is not None]
            yield Finding(("gateways", index, "server"), f"server {found.name!r} runs on "
                          f"{found.runtime}, which cannot run gateways yet",
                          f"use a server on {' or '.join(able)}")
