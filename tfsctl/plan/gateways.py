"""The gateways' part of a plan: desired vs observed gateway -> a frozen GatewayPlan.

Pure, as the rest of `plan/`: the handler file's digest and what runs each gateway were
observed before (tfsctl/live/gateways.py). A gateway is created when nothing runs it,
updated when its handler file's content or one of its settings changed (or it stopped),
destroyed with its server; each change says why. A GatewayPlan holds everything apply
runs (the launch and the smoke requests), so a saved plan applies as it was reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tfsctl.live.gateways import LiveGateway
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget
from tfsctl.runtimes.gateway import GatewayLaunch, GatewayState
from tfsctl.runtimes.registry import gateway_profile
from tfsctl.spec.gateways import Gateway, GatewaySmoke
from tfsctl.spec.model import Spec


class GatewayAction(StrEnum):
    NONE = "none"
    CREATE = "create"
    UPDATE = "update"  # a new gateway, checked before it takes the current one's place
    DESTROY = "destroy"

    @property
    def symbol(self) -> str:
        return {"none": " ", "create": "+", "update": "~", "destroy": "-"}[self]


@dataclass(frozen=True)
class GatewayPlan:
    name: str
    server: str
    action: GatewayAction
    reasons: tuple[str, ...] = ()
    noun: str = "process"
    #: the server's runtime, state dir and endpoint: where the gateway's driver acts
    target: RuntimeTarget | None = None
    launch: GatewayLaunch | None = None  # None for destroy and no-op
    smoke: tuple[GatewaySmoke, ...] = ()

    @property
    def has_changes(self) -> bool:
        return self.action is not GatewayAction.NONE


def _short(digest: str | None) -> str:
    return (digest or "unreadable")[:12]


def _setting_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _reasons(launch: GatewayLaunch, state: GatewayState, noun: str) -> list[str]:
    if state.status is RuntimeStatus.MISSING:
        return [f"no {noun} runs this gateway yet"]
    if state.status is not RuntimeStatus.RUNNING:
        return [f"its {noun} is {state.status.value}" + (f" ({state.detail})" if state.detail
                                                         else "")]
    if state.config_hash == launch.config_hash:
        return []
    found = []
    if state.handler_digest != launch.handler_digest:
        found.append(f"the handler file changed (sha256 {_short(state.handler_digest)} -> "
                     f"{_short(launch.handler_digest)})")
    found += _setting_changes(dict(state.settings or ()), launch.settings())
    return found or ["it was started from other settings"]


def plan_gateway(gateway: Gateway, spec: Spec, observed: LiveGateway, *,
                 destroy: bool = False) -> GatewayPlan:
    server = spec.server(gateway.server)
    assert server is not None  # validate checked it
    profile = gateway_profile(server.runtime)
    target = RuntimeTarget.of(server)
    base = GatewayPlan(gateway.name, server.name, GatewayAction.NONE, noun=profile.noun,
                       target=target)
    if destroy:
        if observed.state.status is RuntimeStatus.MISSING:
            return base
        return GatewayPlan(gateway.name, server.name, GatewayAction.DESTROY,
                           (f"destroy: its {profile.noun} is removed",), profile.noun, target)
    launch = profile.launch(gateway, server, observed.handler_digest or "")
    reasons = _reasons(launch, observed.state, profile.noun)
    if not reasons:
        return base
    action = GatewayAction.CREATE if observed.state.status is RuntimeStatus.MISSING \
        else GatewayAction.UPDATE
    return GatewayPlan(gateway.name, server.name, action, tuple(reasons), profile.noun, target,
                       launch, tuple(gateway.smoke))


def plan_gateways(spec: Spec, observed: Iterable[LiveGateway], *, destroy: bool = False
                  ) -> tuple[GatewayPlan, ...]:
    """A plan for each gateway observed (those of the servers being planned)."""
    found = {live.name: live for live in observed}
    return tuple(plan_gateway(g, spec, found[g.name], destroy=destroy)
                 for g in spec.gateways if g.name in found)
