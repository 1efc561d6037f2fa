"""Blue/green through a proxy's Runtime API: hold a slot out of service, route traffic to
it, drain the other.

Each move reads nothing but the proxy and is safe to repeat, so an apply that
was interrupted half-way (or its guardian, after a kill) can run it again from
the start. Requests are never dropped on purpose: a slot leaves service by
`drain` (it finishes what it has, takes nothing new) and only once its sessions
reached 0, or the drain timeout passed, is it put in `maint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tfsctl.traffic.config import BACKENDS
from tfsctl.traffic.runtime_api import RuntimeApi

#: How long a slot leaving service may take to finish its requests in flight.
DRAIN_TIMEOUT = 30.0


def hold(api: RuntimeApi, slot: str) -> None:
    """Keep `slot` out of service (before its container exists: its name resolves as soon
    as it does, and the server answers health checks before its models are loaded)."""
    for backend in BACKENDS:
        api.set_state(backend, slot, "maint")


#: The weight a slot has when it takes all new requests (a canary's share is out of it).
FULL_WEIGHT = 100


def route(api: RuntimeApi, to: str, away: str, address: str | None, ports: dict[str, int]) -> None:
    """New requests to slot `to` (at `address`, when given: no wait for the proxy's next DNS
    look-up), none to `away`, which keeps serving what it has (see `drain`)."""
    for backend in BACKENDS:
        if address is not None:
            api.set_addr(backend, to, address, ports[backend])
        api.set_weight(backend, to, FULL_WEIGHT)
        api.set_state(backend, to, "ready")
        api.health_up(backend, to)
    for backend in BACKENDS:
        api.set_state(backend, away, "drain")


def split(api: RuntimeApi, canary: str, stable: str, weight: int, address: str | None,
          ports: dict[str, int]) -> None:
    """`weight`% of new requests to slot `canary` (at `address`), the rest to `stable`,
    REST and gRPC alike; the weights are set before the canary's slot leaves `maint`, so it
    never gets more than its share. Weight 0 takes it out of new requests at once."""
    for backend in BACKENDS:
        api.set_weight(backend, stable, FULL_WEIGHT - weight)
        api.set_weight(backend, canary, weight)
        if address is not None:
            api.set_addr(backend, canary, address, ports[backend])
        api.set_state(backend, canary, "ready")
        api.health_up(backend, canary)


def drain(api: RuntimeApi, slot: str, timeout: float = DRAIN_TIMEOUT,
          progress: Callable[[str], None] = lambda _: None) -> bool:
    """Take `slot` out of service once its requests in flight are done (at most `timeout`
    seconds); whether they all finished."""
    for backend in BACKENDS:
        api.set_state(backend, slot, "drain")
    deadline = time.monotonic() + timeout
    while True:
        busy = sum(s.sessions for s in api.stats() if s.server == slot)
        if busy == 0:
            break
        if time.monotonic() > deadline:
            progress(f"drain: {busy} request(s) still on slot {slot} after {timeout:g}s")
            break
        time.sleep(0.05)
    hold(api, slot)
    return busy == 0
