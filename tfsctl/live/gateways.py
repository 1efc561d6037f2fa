"""Observing gateways: what runs each (its runtime's report), for the gateways the spec
names and for those still running that it no longer names; and, apart from the live
state (it is the desired side, like a version's source), the handler files' digests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from tfsctl.live.state import HandlerDigests, LiveGateway
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.registry import gateway_driver, gateway_names
from tfsctl.spec.model import Spec


def file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


def handler_digests(spec: Spec) -> HandlerDigests:
    """The sha256 of each gateway's handler file now (None: it cannot be read)."""
    return tuple((g.name, file_digest(str(g.handler))) for g in spec.gateways)


def observe_gateways(spec: Spec, servers: Iterable[str]) -> tuple[LiveGateway, ...]:
    """The gateways of the `servers` named (a gateway goes with its server): the spec's,
    then, per server, those its runtime runs that the spec does not give it."""
    wanted = set(servers)
    found = []
    for server in spec.servers:
        if server.name not in wanted:
            continue
        target = RuntimeTarget.of(server)
        named = [g.name for g in spec.gateways if g.server == server.name]
        for name in named + sorted(set(gateway_names(target)) - set(named)):
            found.append(LiveGateway(name, server.name, gateway_driver(target, name).observe()))
    return tuple(found)
