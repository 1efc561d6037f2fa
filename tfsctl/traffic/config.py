"""haproxy.cfg for the proxy in front of a server (pure).

Both container runtimes put an HAProxy container on the spec's published ports:

* `swarm`: the tasks are found through Docker's DNS (`tasks.<service>` on the
  service's overlay network, listed only once their healthcheck passed) and
  re-resolved every second, so tasks that start or stop during a rolling
  update come and go by themselves;
* `docker`: two fixed slots per backend, one per container name a server's
  TF Serving container can have (`a`: `tfsctl-<server>`, `b`:
  `tfsctl-<server>-b`); a replace starts the new container under the name
  the serving one does not have, and apply moves traffic between the slots
  through the Runtime API. Containers are never renamed (Docker's DNS does not
  follow renames reliably), so a proxy that restarts comes back routing to
  whichever container exists, with no state of its own to lose.

Both balance REST (HTTP/1.1) and gRPC (HTTP/2, `proto h2`, so each RPC is
routed on its own), retry a request whose connection was refused or dropped on
another server (`retry-on`, `option redispatch`), and check each server every
second. The Runtime API socket (level admin) is a UNIX socket in a directory
the host mounts, never a published port.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfsctl.endpoints import PROXY_CHECK_MODEL

#: The ports the proxy listens on inside its container (published on the spec's ports).
PROXY_GRPC_PORT, PROXY_REST_PORT = 8500, 8501
#: HAProxy's statistics page, inside the proxy's container only (per-server state and counts).
STATS_PORT = 8404
#: The backends every proxy has, one per protocol.
BACKENDS = ("rest", "grpc")
#: The slots of a blue/green proxy, one per name its server's container can have.
SLOTS = ("a", "b")
#: Where the proxy's container sees the host directory holding its Runtime API socket.
SOCKET_DIR = "/run/tfsctl-proxy"
SOCKET_NAME = "admin.sock"

_COMMON = """\
global
    log stdout format raw local0 notice
{socket}
defaults
    log global
    mode http
    option dontlognull
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout check 5s
    retries 3
    retry-on conn-failure empty-response
    option redispatch 1
    default-server {init} resolvers docker resolve-prefer ipv4 check inter 1s fall 2 rise 1

resolvers docker
    nameserver docker 127.0.0.11:53
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 1s
    hold other 1s
    hold refused 1s
    hold nx 1s
    hold timeout 1s
    hold obsolete 1s

frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats

frontend rest
    bind :{rest}
    default_backend rest

frontend grpc
    bind :{grpc} proto h2
    default_backend grpc

backend rest
    balance roundrobin
    option httpchk GET /v1/models/{check_model}
    http-check expect rstatus ^[24]
{rest_servers}

backend grpc
    balance roundrobin
{grpc_servers}
"""


def server_slots(replicas: int) -> int:
    """How many task addresses a swarm proxy can hold: the replicas, as many again that a
    start-first rollout adds, and tasks still listed while they stop; fixed for small
    servers so that scaling them does not change the proxy."""
    return max(16, 2 * replicas + 2)


def _render(rest_servers: str, grpc_servers: str, *, socket: str = "", init: str) -> str:
    return _COMMON.format(socket=socket, init=init, stats=STATS_PORT, rest=PROXY_REST_PORT,
                          grpc=PROXY_GRPC_PORT, rest_servers=rest_servers,
                          grpc_servers=grpc_servers, check_model=PROXY_CHECK_MODEL)


def render_swarm(service: str, replicas: int, grpc_port: int, rest_port: int) -> str:
    """haproxy.cfg for the tasks of `service`, which serve gRPC on `grpc_port` and REST on
    `rest_port`."""
    slots = server_slots(replicas)
    return _render(f"    server-template task {slots} tasks.{service}:{rest_port}",
                   f"    server-template task {slots} tasks.{service}:{grpc_port} proto h2",
                   init="init-addr none")


@dataclass(frozen=True)
class BlueGreen:
    """The two container names a docker server's proxy routes to (slots `a` and `b`), and
    the ports the containers serve on."""

    a: str
    b: str
    grpc_port: int
    rest_port: int
    #: the user that may open the Runtime API socket (the one running tfsctl)
    socket_uid: int = 0


def render_blue_green(slots: BlueGreen) -> str:
    """haproxy.cfg with slots `a` and `b` per backend, each resolving its container's name.

    `init-addr last,libc,none`: a starting proxy resolves the containers at once, so a
    restarted proxy answers as soon as it listens; a name that does not resolve (no such
    container now) is no error, and its slot stays out of service until it does."""
    socket = (f"    stats socket {SOCKET_DIR}/{SOCKET_NAME} mode 600 uid {slots.socket_uid} "
              "level admin\n    stats timeout 30s\n")

    def servers(port: int, extra: str) -> str:
        return (f"    server a {slots.a}:{port}{extra}\n"
                f"    server b {slots.b}:{port}{extra}")

    return _render(servers(slots.rest_port, ""), servers(slots.grpc_port, " proto h2"),
                   socket=socket, init="init-addr last,libc,none")
