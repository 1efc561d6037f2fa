"""The gateway's HTTP API, as an ASGI application uvicorn serves.

    POST /v1/gateways/<name>:predict   the handler's answer for a JSON payload
    GET  /v1/gateways/<name>           whether it is ready (its models AVAILABLE)

Every answer is JSON, errors included, and no request can stop the gateway:

    400  malformed JSON; ValueError / TypeError / KeyError raised by the handler
    413  a body over the limit (refused from its Content-Length before it is read)
    500  any other handler exception: its type and message (the traceback is logged)
    502  TF Serving answered an error: the model, its status and message
    504  a model did not answer within the deadline
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
import numpy as np

from tfsctl.gateway.client import ModelCallError, ModelClient
from tfsctl.gateway.handler import Handler

log = logging.getLogger("tfsctl.gateway")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Answer = tuple[int, Any]

#: what the handler may raise about its input: the client's mistake
CLIENT_ERRORS = (ValueError, TypeError, KeyError)


class BodyTooLarge(Exception):
    pass


def _jsonable(value: Any) -> Any:
    """numpy values in a handler's answer, as JSON (json.dumps' `default`)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"{type(value).__name__} is not JSON")


def error(http_status: int, kind: str, message: str, **extra: Any) -> Answer:
    return http_status, {"error": {"kind": kind, "message": message, **extra}}


def model_error(exc: ModelCallError) -> Answer:
    """TF Serving's error, with the model it came from: 504 for a deadline, else 502."""
    if exc.code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return error(504, "deadline", f"model {exc.model!r} did not answer in time",
                     model=exc.model, status=exc.code.name)
    return error(502, "model", exc.message, model=exc.model, status=exc.code.name)


def handler_error(exc: Exception, stage: str) -> Answer:
    """A handler's exception: the client's fault (400) or the handler's (500)."""
    if isinstance(exc, CLIENT_ERRORS):
        message = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args \
            else f"{type(exc).__name__}: {exc}"
        return error(400, "bad_request", f"{stage}: {message}")
    log.error("%s raised", stage, exc_info=exc)
    return error(500, "handler", f"{stage} raised {type(exc).__name__}: {exc}",
                 type=type(exc).__name__)


class GatewayApp:
    """The ASGI app for one gateway: its handler and its server's models."""

    def __init__(self, name: str, handler: Handler, server: str, *, models: Iterable[str],
                 max_body_bytes: int, deadline: float, digest: str = ""):
        self.name = name
        self.handler = handler
        self.server = server
        self.models = tuple(handler.targets) or tuple(models)
        self.max_body_bytes = max_body_bytes
        self.deadline = deadline
        self.digest = digest
        #: set while the gateway stops: every answer then closes its connection
        self.draining = False
        self._client: ModelClient | None = None

    @property
    def client(self) -> ModelClient:
        if self._client is None:  # in the serving loop: grpc.aio channels belong to one loop
            self._client = ModelClient(self.server, self.deadline)
        return self._client

    async def predict(self, body: bytes) -> Answer:
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, "malformed_json", f"the body is not JSON: {exc}")
        try:
            calls = self.handler.preprocess(payload)
            if not isinstance(calls, Mapping):
                raise RuntimeError("preprocess must return {model_name: {input_name: value}}, "
                                   f"not {type(calls).__name__}")
        except Exception as exc:  # noqa: BLE001 - every handler failure has an answer
            return handler_error(exc, "preprocess")
        try:
            outputs = await self.client.predict_all(calls, self.handler.targets)
        except ModelCallError as exc:
            return model_error(exc)
        except CLIENT_ERRORS as exc:  # an input the signature does not take
            return error(400, "bad_request", str(exc))
        try:
            return 200, self.handler.postprocess(payload, outputs)
        except Exception as exc:  # noqa: BLE001
            return handler_error(exc, "postprocess")

    async def readiness(self) -> Answer:
        states = await self.client.states(self.models)
        ready = all(state == "AVAILABLE" for state in states.values())
        return (200 if ready else 503), {"name": self.name, "ready": ready, "models": states,
                                         "handler": str(self.handler.path),
                                         "handler_sha256": self.digest}

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise BodyTooLarge
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def route(self, scope: Scope, receive: Receive) -> Answer:
        path, method = scope["path"], scope["method"]
        base = f"/v1/gateways/{self.name}"
        if path == f"{base}:predict":
            if method != "POST":
                return error(405, "method", "predict takes POST")
            try:
                body = await self._body(scope, receive)
            except BodyTooLarge:
                return error(413, "too_large", f"the body is over {self.max_body_bytes} bytes")
            return await self.predict(body)
        if path == base:
            if method != "GET":
                return error(405, "method", "readiness takes GET")
            return await self.readiness()
        return error(404, "not_found", f"no route {path}; this gateway answers "
                                       f"POST {base}:predict and GET {base}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            status, document = await self.route(scope, receive)
            body = json.dumps(document, default=_jsonable, ensure_ascii=False).encode("utf-8")
        except Exception as exc:  # noqa: BLE001 - a bug or an answer JSON cannot carry
            log.error("answering %s failed", scope.get("path"), exc_info=exc)
            status, document = error(500, "internal", f"{type(exc).__name__}: {exc}")
            body = json.dumps(document).encode("utf-8")
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if self.draining:  # the client's next request goes to the gateway that replaces this one
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
