"""The interface a runtime implements to run gateways, beside its servers (see base.py).

The same split as for servers: a pure `GatewayProfile` (what the plan may know: how a
gateway reaches its server, what runs it) and a `GatewayDriver` with the effects, for
one gateway. Every runtime swaps a gateway the same way, so that a new handler never
replaces a working one before it proved itself: `start` runs the new gateway beside the
current one, apply checks it alone at `verify_url` (readiness, then the smoke requests),
and then either `promote`s it (the current one stops) or `discard`s it (the current one
never stopped serving).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from tfsctl.endpoints import Endpoint
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget
from tfsctl.spec.gateways import Gateway
from tfsctl.spec.model import Server

#: the module a gateway process runs
MODULE = "tfsctl.gateway"


@dataclass(frozen=True)
class GatewayLaunch:
    """What a driver starts a gateway from: plain data, saved in a plan."""

    name: str
    handler: str  # the handler file on this machine
    handler_digest: str  # sha256 of its content when the plan was made
    bind_address: str
    port: int
    server_grpc: str  # host:port the gateway calls the models at
    models: tuple[str, ...]
    max_body_bytes: int
    deadline_seconds: float
    image: str = ""
    base_image: str = ""  # what `image` is derived from, with `requirements` installed
    requirements: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def settings(self) -> dict[str, Any]:
        """Everything but the handler's content, as the plan compares and names it."""
        return {"handler": self.handler, "bind_address": self.bind_address, "port": self.port,
                "server": self.server_grpc, "models": list(self.models),
                "max_body_bytes": self.max_body_bytes, "deadline_seconds": self.deadline_seconds,
                "image": self.image, "base_image": self.base_image, "requirements": list(self.requirements),
                **{f"env.{k}": v for k, v in self.env}}

    @property
    def config_hash(self) -> str:
        """Stamped on what runs the gateway: changes iff a setting or the handler does."""
        data = json.dumps([self.settings(), self.handler_digest], sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()[:32]

    def args(self, handler: str, verify_port: int) -> tuple[str, ...]:
        """`python -m tfsctl.gateway`'s arguments; `handler` is the path the gateway sees."""
        models = [arg for model in self.models for arg in ("--model", model)]
        return ("--name", self.name, "--handler", handler, "--server", self.server_grpc,
                "--host", self.bind_address, "--port", str(self.port),
                "--verify-port", str(verify_port), *models,
                "--max-body-bytes", str(self.max_body_bytes),
                "--deadline-seconds", f"{self.deadline_seconds:g}")


@dataclass(frozen=True)
class GatewayState:
    """What runs a gateway, as its runtime reports it."""

    status: RuntimeStatus
    config_hash: str | None = None
    settings: tuple[tuple[str, Any], ...] | None = None
    handler_digest: str | None = None
    identity: str | None = None  # pid or container id
    detail: str = ""


class GatewayProfile(ABC):
    """What a runtime's gateway is, without touching it (safe for plan)."""

    noun: str  # how plans name what runs the gateway

    def launch(self, gateway: Gateway, server: Server, digest: str) -> GatewayLaunch:
        """The gateway as the spec wants it, its handler's content being `digest`."""
        endpoint = Endpoint.for_bind(str(server.bind_address), server.ports.grpc,
                                     server.ports.rest)
        return GatewayLaunch(
            name=gateway.name, handler=str(gateway.handler), handler_digest=digest,
            bind_address=str(server.bind_address), port=gateway.port,
            server_grpc=endpoint.grpc, models=tuple(m.name for m in server.models),
            max_body_bytes=int(gateway.max_body_bytes), deadline_seconds=gateway.deadline_seconds,
            image=self.image(gateway), base_image=self.image(gateway) and gateway.image,
            requirements=tuple(gateway.requirements),
            env=tuple(sorted(gateway.env.items())))

    def image(self, gateway: Gateway) -> str:
        """The image the gateway runs in ("" for runtimes without images)."""
        return ""


class GatewayDriver(ABC):
    """A runtime's effects for one gateway of a server. Constructing one touches nothing."""

    def __init__(self, target: RuntimeTarget, name: str):
        self.target = target
        self.name = name

    @staticmethod
    @abstractmethod
    def names(target: RuntimeTarget) -> tuple[str, ...]:
        """The gateways something runs for `target`'s server, spec or not (so that plan
        sees one removed from the spec); () for a runtime that is away. Never raises."""

    @abstractmethod
    def observe(self) -> GatewayState:
        """The current gateway, never raising for a runtime that is away."""

    @abstractmethod
    def start(self, launch: GatewayLaunch) -> None:
        """Start a new gateway beside the current one (which keeps serving)."""

    @property
    @abstractmethod
    def verify_url(self) -> str:
        """Where the gateway `start` started answers, and only it (after `start`)."""

    @abstractmethod
    def check_started(self) -> None:
        """ServerExited, with its log's last lines, if the new gateway stopped running."""

    @abstractmethod
    def promote(self) -> None:
        """The new gateway is verified: stop the current one; the new one is current."""

    @abstractmethod
    def discard(self) -> None:
        """Stop the new gateway; the current one was never touched."""

    @abstractmethod
    def destroy(self) -> None: ...
