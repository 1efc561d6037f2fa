"""Blue/green for a server's container, through its proxy (the docker runtime's traffic).

A server's TF Serving container is named `tfsctl-<server>` or `tfsctl-<server>-b`,
one name per slot of its proxy (`a`, `b`; Docker's DNS on the shared `tfsctl` network
resolves them on the shared `tfsctl` network), and `tfsctl-<server>-proxy` is HAProxy on the spec's ports.
Containers are never renamed: Docker's DNS does not follow renames reliably.

A replace starts green under the name blue does not have, with green's slot held
out of service first (its name resolves as soon as the container exists, before
its models are loaded); apply verifies green directly; then

1. `switch`: HAProxy's Runtime API sets green's slot to green's address and
   enables it, and puts blue's slot in drain: new requests go to green, blue
   finishes what it has;
2. `finish` (commit): blue's sessions reach 0 (at most the drain timeout), its
   slot is held, and blue is removed (TF Serving ignores SIGTERM: nothing is
   stopped before it is drained).

`back` (undo) is the reverse: blue's slot enabled again, green's drained and
held, green removed. Which container was blue is in the journal (the undo
record), and everything else is read from the engine and the proxy, so recovery
after a kill runs the same code.

A container that publishes the ports itself (made by a tfsctl without the proxy)
and a change of the proxy's own settings cannot be switched through the proxy:
then `switch` is stop-first (blue set aside, the proxy created or replaced),
which the plan announces as downtime, and `back` restores both.
"""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tfsctl.endpoints import Endpoint
from tfsctl.failpoints import failpoint
from tfsctl.journal import RuntimeUndo
from tfsctl.rollout.figures import UNANSWERED, Counters, parse_metrics, with_proxy
from tfsctl.runtimes.base import Launch
from tfsctl.runtimes.engine.container_spec import ContainerSpec, Mount
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.proxy import proxy_label, proxy_spec, reconcile_proxy
from tfsctl.traffic.config import SOCKET_DIR, SOCKET_NAME, render_blue_green
from tfsctl.traffic.config import BlueGreen as Slots
from tfsctl.traffic.runtime_api import RuntimeApi
from tfsctl.traffic.switch import DRAIN_TIMEOUT, drain, hold, route, split

#: How long a proxy that just started may take to open its Runtime API socket.
SOCKET_TIMEOUT = 30.0
#: The bridge network every docker server's containers and proxies share (as kind's `kind`
#: network): one per host, not one per server, because Docker's default address pools hold
#: only about 30 bridge networks. Container names are unique per host, so Docker's DNS on it
#: still finds each slot by name. It outlives `destroy`, like the engine's own `bridge`.
NETWORK = "tfsctl"


@dataclass(frozen=True)
class Names:
    server: str
    a: str
    b: str
    network: str

    @classmethod
    def of(cls, server: str, base: str) -> Names:
        return cls(server, base, f"{base}-b", NETWORK)

    def slot(self, name: str) -> str:
        return "b" if name == self.b else "a"

    def other(self, name: str) -> str:
        return self.a if name == self.b else self.b


class BlueGreen:
    """The blue/green moves of one server's containers and proxy."""

    def __init__(self, containers: Containers, names: Names, state_dir: Path,
                 ports: dict[str, int], drain_timeout: float = DRAIN_TIMEOUT):
        self.containers, self.names, self.ports = containers, names, ports
        self.socket_dir = state_dir / "proxy"
        self.api = RuntimeApi(self.socket_dir / SOCKET_NAME)
        self.drain_timeout = drain_timeout

    @property
    def _proxy(self) -> str:
        return proxy_label(self.names.server)

    def _address(self, name: str) -> str | None:
        return self.containers.address(self.names.server, name, self.names.network)

    def live_name(self) -> str | None:
        """The name of the container serving now (the newest running one)."""
        current = self.containers.observe(self.names.server)
        return current.name if current is not None else None

    def direct_endpoint(self, name: str | None) -> Endpoint | None:
        """Where the container `name` (default: the serving one) answers from this host,
        bypassing the proxy; None if it is not on the shared network."""
        address = self._address(name or self.live_name() or self.names.a)
        return Endpoint(address, self.ports["grpc"], self.ports["rest"]) if address else None

    def proxy_spec(self, launch: Launch) -> ContainerSpec:
        config = render_blue_green(Slots(self.names.a, self.names.b, self.ports["grpc"],
                                         self.ports["rest"], os.getuid()))
        return proxy_spec(self.names.server, launch, config, self.names.network,
                          (Mount(str(self.socket_dir), SOCKET_DIR, read_only=False),))

    def ensure_proxy(self, launch: Launch) -> None:
        """The proxy as `launch` wants it (created, replaced stop-first, or started)."""
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        reconcile_proxy(self.containers, self.proxy_spec(launch))
        self.api.wait_answering(SOCKET_TIMEOUT)

    def _switchable(self, launch: Launch) -> bool:
        """Whether the proxy runs as `launch` wants it (then its Runtime API must answer: a
        proxy that does not is an error, not downtime)."""
        proxy = self.containers.observe(self._proxy)
        if proxy is None or not proxy.running or \
                proxy.config_hash != self.proxy_spec(launch).config_hash:
            return False
        self.api.wait_answering(SOCKET_TIMEOUT)
        return True

    def prepare(self, launch: Launch) -> str:
        """The name green gets (the one blue does not have), its slot held out of service
        and any leftover under that name removed."""
        live = self.live_name()
        green = self.names.other(live) if live in (self.names.a, self.names.b) else self.names.b
        if self._switchable(launch):
            hold(self.api, self.names.slot(green))
        self.containers.remove_named(self.names.server, green)
        return green

    def switch(self, launch: Launch, green: str) -> None:
        """Send new requests to the container `green` (after a create: the only one)."""
        blue = self.names.other(green)
        if not self._switchable(launch):  # no proxy yet, or a changed one: stop-first
            if self.containers.named(self.names.server, blue) is not None:
                self.containers.set_aside(self.names.server, blue)
            self.ensure_proxy(launch)
        route(self.api, self.names.slot(green), self.names.slot(blue), self._address(green),
              self.ports)

    def split(self, green: str, weight: int) -> None:
        """A canary step: `weight`% of new requests to `green`, the rest to blue (the proxy
        runs as the launch wants it: a plan never makes a canary of a stop-first change)."""
        self.api.wait_answering(SOCKET_TIMEOUT)
        split(self.api, self.names.slot(green), self.names.slot(self.names.other(green)),
              weight, self._address(green), self.ports)

    def figures(self, green: str, metrics_path: str) -> tuple[Counters, Counters]:
        """The cumulative figures of `green` and of blue: each one's own metrics page (read
        directly, not through the proxy) and the proxy's counts for its slot."""
        stats = self.api.stats()

        def of(name: str) -> Counters:
            endpoint = self.direct_endpoint(name)
            counters = UNANSWERED
            if endpoint is not None:
                try:
                    with urllib.request.urlopen(endpoint.rest + metrics_path, timeout=5) as answer:
                        counters = parse_metrics(answer.read().decode(errors="replace"))
                except OSError:
                    counters = UNANSWERED
            slot = [s for s in stats if s.server == self.names.slot(name)]
            return with_proxy(counters, sum(s.total for s in slot), sum(s.failed for s in slot))

        return of(green), of(self.names.other(green))

    def reroute(self) -> None:
        """Route the proxy to the serving container at its address now (after it was started
        again: no wait for the proxy's checks and DNS look-ups to find it)."""
        live = self.live_name()
        if live is not None and self.api.answers():
            route(self.api, self.names.slot(live), self.names.slot(self.names.other(live)),
                  self._address(live), self.ports)

    def finish(self, undo: RuntimeUndo) -> None:
        """After the switch (commit): drain and remove blue, drop what the stop-first path
        kept aside."""
        blue = undo.previous.get("live")
        if isinstance(blue, str) and self.containers.named(self.names.server, blue) is not None:
            drain(self.api, self.names.slot(blue), self.drain_timeout)
            failpoint("during-replace")
            self.containers.remove_named(self.names.server, blue)
        self.containers.discard_previous(self.names.server)
        self.containers.discard_previous(self._proxy)

    def back(self, undo: RuntimeUndo) -> None:
        """Undo a replace: traffic back to blue, then green drained and removed; after a
        stop-first switch, the previous proxy (or none) and the container set aside come
        back."""
        blue = undo.previous.get("live")
        if not isinstance(blue, str):
            return
        green = self.names.other(blue)
        if self.containers.named(self.names.server, green) is not None:
            running = self.containers.named(self.names.server, blue)
            if running is not None and running.running and self.api.answers():
                route(self.api, self.names.slot(blue), self.names.slot(green),
                      self._address(blue), self.ports)
                drain(self.api, self.names.slot(green), self.drain_timeout)
            self.containers.remove_named(self.names.server, green)
        if not self.containers.has_previous(self.names.server):
            return
        if undo.previous.get("proxy_hash") is None:
            self.containers.remove(self._proxy)  # there was none: the old container published
        else:
            self.containers.restore_previous(self._proxy)
        self.containers.restore_previous(self.names.server, start=undo.was_running)
