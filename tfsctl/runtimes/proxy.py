"""The proxy container in front of a server: HAProxy on the spec's published ports.

Swarm's routing mesh balances TCP connections, which pins a gRPC client (one
HTTP/2 connection) to one task, and needs IPVS; a plain container's published
ports vanish while it is replaced. So both container runtimes give each server
an HAProxy container `tfsctl-<server>-proxy` that owns the ports and balances
per request (tfsctl/traffic/config.py renders its configuration), while TF
Serving runs unpublished on the network the proxy shares with it (docker: the
host's `tfsctl` bridge; swarm: the service's overlay). The proxy is stamped like any
container of tfsctl's (its config hash and settings), under the server label
`<server>.proxy`, so that it is observed, replaced and undone the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tfsctl.runtimes.base import Launch
from tfsctl.runtimes.engine.container_spec import ContainerSpec, Mount, PortBinding
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.traffic.config import PROXY_GRPC_PORT, PROXY_REST_PORT

#: The proxy image: HAProxy from Debian's packages (scripts/build_proxy_image.sh builds it).
PROXY_IMAGE = "tfsctl/haproxy:dev"
#: The variable the image's entrypoint reads the configuration from.
CONFIG_ENV = "TFSCTL_HAPROXY_CONFIG"


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def proxy_name(server: str) -> str:
    return f"tfsctl-{server}-proxy"


def proxy_label(server: str) -> str:
    """The server label of a server's proxy container (containers are found by label)."""
    return f"{server}.proxy"


def proxy_spec(server: str, launch: Launch, config: str, network: str,
               mounts: tuple[Mount, ...] = ()) -> ContainerSpec:
    """The proxy of `server`, on `network`, publishing the spec's ports, running `config`."""
    settings: dict[str, Any] = {"bind_address": launch.bind_address,
                                "ports.grpc": launch.grpc_port, "ports.rest": launch.rest_port,
                                "image": PROXY_IMAGE, "network": network}
    return ContainerSpec(
        name=proxy_name(server), server=proxy_label(server), image=PROXY_IMAGE, args=(),
        env=((CONFIG_ENV, config),),
        ports=(PortBinding(PROXY_GRPC_PORT, launch.bind_address, launch.grpc_port),
               PortBinding(PROXY_REST_PORT, launch.bind_address, launch.rest_port)),
        mounts=mounts, config_hash=digest(config + json.dumps(settings, sort_keys=True)),
        settings=json.dumps(settings, sort_keys=True), network=network)


def reconcile_proxy(containers: Containers, wanted: ContainerSpec) -> None:
    """The proxy as `wanted`: left alone when it already is (a rollout never restarts it),
    replaced (stop-first: it holds the ports) when its configuration or ports changed,
    started when it stopped."""
    current = containers.observe(wanted.server)
    if current is None:
        containers.create(wanted)
    elif current.config_hash != wanted.config_hash:
        containers.discard_previous(wanted.server)
        containers.replace(wanted)
    elif not current.running:
        containers.restart(wanted.server)
