"""Blue/green for a server's container, through its proxy (the docker runtime's traffic).

The containers, by name (Docker's DNS on the server's network resolves them):

* `tfsctl-<server>`: the container serving now (the proxy's `live` slot);
* `tfsctl-<server>-next-green`: the new one a replace starts (the `next` slot);
* `tfsctl-<server>-proxy`: HAProxy, on the spec's ports.

A replace is: start green (the driver), verify it directly (apply), then

1. `switch`: HAProxy's Runtime API enables `next` at green's address and puts
   `live` in drain: new requests go to green, blue finishes what it has;
2. `finish` (commit): blue's sessions reach 0 (at most the drain timeout), blue
   is removed (TF Serving ignores SIGTERM: nothing is stopped before it is
   drained), green takes the name `tfsctl-<server>` and the `live` slot, and
   `next` is drained and disabled again: the state a restarted proxy comes back
   to from its configuration alone.

`back` (undo) is the reverse of 1 and removes green. Each step reads the state
from the engine and the proxy only, so recovery after a kill runs the same code.

A container that publishes the ports itself (made by a tfsctl without the proxy)
and a change of the proxy's own settings cannot be switched through the proxy:
then `switch` is stop-first (blue set aside, green renamed, the proxy created or
replaced), which the plan announces as downtime, and `back` restores both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tfsctl.endpoints import Endpoint
from tfsctl.failpoints import failpoint
from tfsctl.journal import RuntimeUndo
from tfsctl.runtimes.base import Launch
from tfsctl.runtimes.engine.containers import NEXT_INFIX, Containers, ContainerSpec, Mount
from tfsctl.runtimes.proxy import proxy_label, proxy_spec, reconcile_proxy
from tfsctl.traffic.config import LIVE, SOCKET_DIR, SOCKET_NAME, render_blue_green
from tfsctl.traffic.config import BlueGreen as Slots
from tfsctl.traffic.runtime_api import RuntimeApi
from tfsctl.traffic.switch import DRAIN_TIMEOUT, drain, to_live, to_next

#: How long a proxy that just started may take to open its Runtime API socket.
SOCKET_TIMEOUT = 30.0


@dataclass(frozen=True)
class Names:
    server: str
    live: str
    next: str
    network: str

    @classmethod
    def of(cls, server: str, live: str) -> Names:
        return cls(server, live, f"{live}{NEXT_INFIX}green", f"{live}-net")


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

    def direct_endpoint(self, name: str | None) -> Endpoint | None:
        """Where the container `name` (default: green if it runs, else the live one) answers
        from this host, bypassing the proxy; None if it is not on the server's network."""
        for candidate in (name,) if name else (self.names.next, self.names.live):
            address = self._address(candidate)
            if address:
                return Endpoint(address, self.ports["grpc"], self.ports["rest"])
        return None

    def proxy_spec(self, launch: Launch) -> ContainerSpec:
        config = render_blue_green(Slots(self.names.live, self.names.next, self.ports["grpc"],
                                         self.ports["rest"], os.getuid()))
        return proxy_spec(self.names.server, launch, config, self.names.network,
                          (Mount(str(self.socket_dir), SOCKET_DIR, read_only=False),))

    def ensure_proxy(self, launch: Launch) -> None:
        """The proxy as `launch` wants it (created, replaced stop-first, or started)."""
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        wanted = self.proxy_spec(launch)
        reconcile_proxy(self.containers, wanted)
        self.api.wait_answering(SOCKET_TIMEOUT)

    def _switchable(self, launch: Launch) -> bool:
        """Whether the proxy runs as `launch` wants it, in front of the live container (then
        its Runtime API must answer: a proxy that does not is an error, not downtime)."""
        proxy = self.containers.observe(self._proxy)
        if (proxy is None or not proxy.running or self._address(self.names.live) is None
                or proxy.config_hash != self.proxy_spec(launch).config_hash):
            return False
        self.api.wait_answering(SOCKET_TIMEOUT)
        return True

    def switch(self, launch: Launch) -> None:
        """Send new requests to green; after a create, to the new live container (the proxy
        started before it, so it may not have resolved its name yet)."""
        green = self._address(self.names.next)
        if green is None:
            live = self._address(self.names.live)
            if live is not None:
                self.api.wait_answering(SOCKET_TIMEOUT)
                to_live(self.api, live, self.ports, self.drain_timeout)
            return
        if self._switchable(launch):
            to_next(self.api, green, self.ports)
            return
        if self.containers.named(self.names.server, self.names.live) is not None:
            self.containers.set_aside(self.names.server, self.names.live)
        self.containers.rename(self.names.server, self.names.next, self.names.live)
        self.ensure_proxy(launch)

    def finish(self) -> None:
        """After the switch (commit): drain and remove blue, give green blue's name and slot,
        drop what the stop-first path kept aside."""
        green = self._address(self.names.next)
        if green is not None:
            drain(self.api, LIVE, self.drain_timeout)
            self.containers.remove_named(self.names.server, self.names.live)
            failpoint("during-replace")
            self.containers.rename(self.names.server, self.names.next, self.names.live)
            to_live(self.api, green, self.ports, self.drain_timeout)
        self.containers.discard_previous(self.names.server)
        self.containers.discard_previous(self._proxy)

    def back(self, undo: RuntimeUndo) -> None:
        """Undo a replace: traffic back to blue, then green removed; after a stop-first
        switch, the previous proxy (or none) and the container set aside come back."""
        if self.containers.named(self.names.server, self.names.next) is not None:
            live = self.containers.named(self.names.server, self.names.live)
            if live is not None and live.running and self.api.answers():
                to_live(self.api, None, self.ports, self.drain_timeout)
            self.containers.remove_named(self.names.server, self.names.next)
        if not self.containers.has_previous(self.names.server):
            return
        if undo.previous.get("proxy_hash") is None:
            self.containers.remove(self._proxy)  # there was none: the old container published
        else:
            self.containers.restore_previous(self._proxy)
        self.containers.restore_previous(self.names.server, start=undo.was_running)
