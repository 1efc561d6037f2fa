"""Where a server answers: host and ports turned into addresses and URLs.

Every layer that talks to a server (live observation, apply's reload and smoke
requests, the runtimes' readiness checks) builds its addresses here, so an IPv6
bind address is bracketed once, correctly, everywhere (`http://[::1]:8501`).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

#: The models tfsctl asks a server for only to see that it answers (the proxy's health check,
#: a driver's readiness probe): no server has them, and a canary's analysis ignores them.
PROXY_CHECK_MODEL = "tfsctl-proxy-check"
READY_PROBE_MODEL = "tfsctl-ready-probe"
PROBE_MODELS = frozenset({PROXY_CHECK_MODEL, READY_PROBE_MODEL})

#: A wildcard bind address listens everywhere; clients reach it on loopback.
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def reachable_host(bind_address: str) -> str:
    """Where to connect for a server bound to `bind_address` (0.0.0.0 -> loopback)."""
    return _WILDCARD_TO_LOOPBACK.get(bind_address, bind_address)


def url_host(host: str) -> str:
    """`host` as it goes into a URL or a gRPC target: IPv6 literals in brackets."""
    try:
        is_v6 = ip_address(host).version == 6
    except ValueError:
        return host  # a name such as localhost
    return f"[{host}]" if is_v6 else host


@dataclass(frozen=True)
class Endpoint:
    """A server's gRPC and REST ports on one host."""

    host: str
    grpc_port: int
    rest_port: int

    @classmethod
    def for_bind(cls, bind_address: str, grpc_port: int, rest_port: int) -> Endpoint:
        return cls(reachable_host(bind_address), grpc_port, rest_port)

    @property
    def grpc(self) -> str:
        return f"{url_host(self.host)}:{self.grpc_port}"

    @property
    def rest(self) -> str:
        return f"http://{url_host(self.host)}:{self.rest_port}"
