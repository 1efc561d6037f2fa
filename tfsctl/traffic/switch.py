"""Blue/green through a proxy's Runtime API: send traffic to the `next` slot, drain the
`live` one, and the way back.

Each move reads nothing but the proxy and is safe to repeat, so an apply that
was interrupted half-way (or its guardian, after a kill) can run it again from
the start. Requests are never dropped on purpose: a slot leaves service by
`drain` (it finishes what it has, takes nothing new) and only once its sessions
reached 0, or the drain timeout passed, is it put in `maint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tfsctl.traffic.config import BACKENDS, LIVE, NEXT
from tfsctl.traffic.runtime_api import RuntimeApi

#: How long a slot leaving service may take to finish its requests in flight.
DRAIN_TIMEOUT = 30.0


def _enable(api: RuntimeApi, slot: str, address: str | None, ports: dict[str, int]) -> None:
    for backend in BACKENDS:
        if address is not None:
            api.set_addr(backend, slot, address, ports[backend])
        api.set_state(backend, slot, "ready")
        api.health_up(backend, slot)


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
            progress(f"drain: {busy} request(s) still on the {slot} slot after {timeout:g}s")
            break
        time.sleep(0.05)
    for backend in BACKENDS:
        api.set_state(backend, slot, "maint")
    return busy == 0


def to_next(api: RuntimeApi, address: str, ports: dict[str, int]) -> None:
    """Route new requests to the `next` slot at `address` (verified by the caller), and none
    to `live`, which keeps serving what it has (see `drain`)."""
    _enable(api, NEXT, address, ports)
    for backend in BACKENDS:
        api.set_state(backend, LIVE, "drain")


def to_live(api: RuntimeApi, address: str | None, ports: dict[str, int],
            timeout: float = DRAIN_TIMEOUT) -> None:
    """Route every request to the `live` slot (at `address`, when given) and drain `next`:
    the way back from `to_next`, and the last move of a switch once the next container
    has taken the live one's name."""
    _enable(api, LIVE, address, ports)
    drain(api, NEXT, timeout)
