"""Observing gateways: what runs each (its runtime's report) and the handler file as it is
on disk now (its digest), read once for the planner."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.gateway import GatewayState
from tfsctl.runtimes.registry import gateway_driver
from tfsctl.spec.model import Spec


@dataclass(frozen=True)
class LiveGateway:
    name: str
    server: str
    state: GatewayState
    #: sha256 of the spec's handler file now (None: it cannot be read)
    handler_digest: str | None


def file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


def observe_gateways(spec: Spec, servers: Iterable[str]) -> tuple[LiveGateway, ...]:
    """The gateways of the `servers` named (a gateway goes with its server)."""
    wanted = set(servers)
    found = []
    for gateway in spec.gateways:
        server = spec.server(gateway.server)
        if server is None or server.name not in wanted:
            continue
        state = gateway_driver(RuntimeTarget.of(server), gateway.name).observe()
        found.append(LiveGateway(gateway.name, server.name, state,
                                 file_digest(str(gateway.handler))))
    return tuple(found)
