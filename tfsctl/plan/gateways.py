"""The gateways' part of a plan: desired vs observed gateway -> a frozen GatewayPlan.

Pure, as the rest of `plan/`: the handler file's digest and what runs each gateway were
observed before (tfsctl/live/gateways.py). A gateway is created when nothing runs it,
updated when its handler file's content or one of its settings changed (or it stopped),
destroyed with its server or once the spec no longer names it (for that server); each
change says why. A GatewayPlan holds everything apply
runs (the launch and the smoke requests), so a saved plan applies as it was reviewed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tfsctl.live.state import HandlerDigests, LiveGateway
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


def _destroyed(observed: LiveGateway, spec: Spec, why: str) -> GatewayPlan:
    """The plan removing what runs `observed` (nothing to do if nothing does)."""
    server = spec.server(observed.server)
    assert server is not None  # gateways are observed for the spec's servers
    noun = gateway_profile(server.runtime).noun
    if observed.state.status is RuntimeStatus.MISSING:
        return GatewayPlan(observed.name, server.name, GatewayAction.NONE, noun=noun,
                           target=RuntimeTarget.of(server))
    return GatewayPlan(observed.name, server.name, GatewayAction.DESTROY,
                       (f"{why}: its {noun} is removed",), noun, RuntimeTarget.of(server))


def plan_gateway(gateway: Gateway, spec: Spec, observed: LiveGateway, digest: str | None, *,
                 destroy: bool = False) -> GatewayPlan:
    """`gateway`'s plan, its handler file's content now being `digest`."""
    if destroy:
        return _destroyed(observed, spec, "destroy")
    server = spec.server(gateway.server)
    assert server is not None  # validate checked it
    profile = gateway_profile(server.runtime)
    target = RuntimeTarget.of(server)
    base = GatewayPlan(gateway.name, server.name, GatewayAction.NONE, noun=profile.noun,
                       target=target)
    launch = profile.launch(gateway, server, digest or "")
    reasons = _reasons(launch, observed.state, profile.noun)
    if not reasons:
        return base
    action = GatewayAction.CREATE if observed.state.status is RuntimeStatus.MISSING \
        else GatewayAction.UPDATE
    return GatewayPlan(gateway.name, server.name, action, tuple(reasons), profile.noun, target,
                       launch, tuple(gateway.smoke))


def plan_gateways(spec: Spec, observed: Iterable[LiveGateway], handlers: HandlerDigests,
                  servers: Iterable[str] | None = None, *, destroy: bool = False
                  ) -> tuple[GatewayPlan, ...]:
    """A plan for each gateway of the `servers` planned (default: all): the spec's, in its
    order (one not `observed` runs nowhere yet), then the removals of the gateways
    observed that it no longer names."""
    found = {(live.server, live.name): live for live in observed}
    selected = {s.name for s in spec.servers} if servers is None else set(servers)
    digests = dict(handlers)
    plans = [plan_gateway(g, spec, found.get((g.server, g.name)) or LiveGateway(
                 g.name, g.server, GatewayState(RuntimeStatus.MISSING)), digests.get(g.name),
                 destroy=destroy)
             for g in spec.gateways if g.server in selected]
    named = {(g.server, g.name) for g in spec.gateways}
    plans += [_destroyed(live, spec, "no longer in the spec") for key, live in found.items()
              if key not in named and live.state.status is not RuntimeStatus.MISSING]
    return tuple(plans)
