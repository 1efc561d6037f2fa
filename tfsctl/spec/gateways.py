"""A gateway: the user's pre- and post-processing, as a web service in front of a server.

A model takes tensors while a user wants to send a sentence; the handler module (see
tfsctl/gateway/handler.py for its contract) turns one into the other, and tfsctl runs
it beside its server, on the server's runtime, from the same reviewed spec. The rules
that span fields (the server exists, the port is free, the handler file is there) are
in tfsctl/spec/checks.py with the spec's other cross-field rules.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import ByteSize, Field, ValidationInfo, field_validator

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import ENV_NAME_PATTERN, Name, Port, SpecPath, absolute, base_dir

#: The image docker and swarm gateways run in: it holds tfsctl (and so the gateway).
DEFAULT_GATEWAY_IMAGE = "tfsctl/serve:dev"


class GatewaySmoke(Strict):
    """A request apply sends through a new gateway before it takes the old one's place,
    and (part of) the answer it must give, numbers within `tolerance`."""

    name: str | None = None
    request: dict[str, Any] = Field(description='The predict payload, e.g. {"text": "..."}.')
    expect: dict[str, Any] = Field(description="Part of the answer, e.g. {entities: [...]}.")
    tolerance: float = Field(default=1e-6, ge=0)

    @field_validator("request", "expect")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Sent and compared as JSON: refuse what JSON cannot carry."""
        try:
            json.dumps(value).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot be sent as JSON: {exc}") from None
        return value


class Gateway(Strict):
    """A web service running the user's handler in front of a server's models."""

    name: Name = Field(description="Its URL: POST /v1/gateways/<name>:predict.")
    server: Name = Field(description="The server of this spec whose models it calls.")
    handler: SpecPath = Field(description="The handler module: preprocess(payload) and "
                              "postprocess(payload, outputs); relative to the spec file.")
    port: Port = Field(description="HTTP port, published on the server's bind address.")
    requirements: list[Annotated[str, Field(min_length=1, pattern=r"^[^\s-][^\s]*$")]] = Field(
        default_factory=list, description="pip requirements the handler imports: built into "
        "a derived image (docker, swarm) with this machine's pip configuration; a local "
        "gateway uses tfsctl's own environment, which must hold them.")
    image: str = Field(default=DEFAULT_GATEWAY_IMAGE, min_length=1, description="Image a docker "
                       "or swarm gateway runs in (it must hold tfsctl).")
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(
        default_factory=dict, description="Environment of the handler's process.")
    max_body_bytes: ByteSize = Field(default=ByteSize(1 << 20), ge=1, description="Larger "
                                     "request bodies are answered 413.")
    deadline_seconds: float = Field(default=10.0, gt=0, le=3600, description="How long a model "
                                    "may take to answer; past it the gateway answers 504.")
    smoke: list[GatewaySmoke] = Field(default_factory=list)

    @field_validator("handler")
    @classmethod
    def _resolve(cls, value: Any, info: ValidationInfo) -> Any:
        return absolute(value, base_dir(info))
