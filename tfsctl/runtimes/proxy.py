"""The L7 proxy in front of a swarm server's tasks: HAProxy, configured here (pure).

Swarm's routing mesh balances TCP connections, which pins a gRPC client (one
HTTP/2 connection) to one task, and needs IPVS. Instead each swarm server gets
an HAProxy container, published on the spec's ports and bind address, that:

* finds the tasks through Docker's DNS (`tasks.<service>` on the service's
  overlay network; the engine lists a task there only once its healthcheck
  passed, i.e. once every model it serves is AVAILABLE) and re-resolves every
  second, so tasks that start or stop during a rollout come and go;
* balances REST (HTTP/1.1) and gRPC (HTTP/2, `proto h2`) per request;
* checks each task itself every second (REST: the API answers; gRPC: the port
  accepts), and retries a request whose connection was refused or dropped on
  another task (`retry-on`, `option redispatch`), which is what makes a rolling
  update lose no request.

The configuration depends only on the service's name and the ports, not on
models or versions, so a rollout never touches the proxy.
"""

from __future__ import annotations

#: The proxy image: HAProxy from Debian's packages (scripts/build_proxy_image.sh builds it).
PROXY_IMAGE = "tfsctl/haproxy:dev"
#: The ports the proxy listens on inside its container (published on the spec's ports).
PROXY_GRPC_PORT, PROXY_REST_PORT = 8500, 8501
#: HAProxy's statistics page, inside the proxy's container only (per-task state and counts).
STATS_PORT = 8404
#: The variable the image's entrypoint reads the configuration from.
CONFIG_ENV = "TFSCTL_HAPROXY_CONFIG"


def server_slots(replicas: int) -> int:
    """How many task addresses the proxy can hold: the replicas, the one a start-first
    rollout adds, and tasks still listed while they stop; fixed for small servers so
    that scaling them does not change the proxy."""
    return max(16, 2 * replicas + 2)


def render_haproxy(service: str, replicas: int, grpc_port: int, rest_port: int) -> str:
    """haproxy.cfg for the tasks of `service`, listening on PROXY_*_PORT; the tasks serve
    gRPC on `grpc_port` and REST on `rest_port`."""
    slots = server_slots(replicas)
    return f"""\
global
    log stdout format raw local0 notice

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
    default-server init-addr none resolvers docker resolve-prefer ipv4 check inter 1s fall 2 rise 1

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
    bind 127.0.0.1:{STATS_PORT}
    stats enable
    stats uri /stats

frontend rest
    bind :{PROXY_REST_PORT}
    default_backend rest

frontend grpc
    bind :{PROXY_GRPC_PORT} proto h2
    default_backend grpc

backend rest
    balance roundrobin
    option httpchk GET /v1/models/tfsctl-proxy-check
    http-check expect rstatus ^[24]
    server-template task {slots} tasks.{service}:{rest_port}

backend grpc
    balance roundrobin
    server-template task {slots} tasks.{service}:{grpc_port} proto h2
"""
