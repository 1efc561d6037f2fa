"""The REST API's HTTP server: uvicorn (httptools, uvloop) in front of rest.RestApi.

uvicorn does the HTTP: keep-alive, pipelining, chunked bodies, a listen
backlog of 2048, graceful shutdown. This module adds what a server facing
any client needs and uvicorn leaves to the application:

  * every request gets an answer: the model runs on a worker pool
    (`--rest_api_num_threads`, TF Serving's flag and default) and RestApi
    never raises; a request the HTTP parser refuses gets a JSON 400 too;
  * bounded requests: a body over `--max_request_bytes` is refused from its
    Content-Length before it is read (or as soon as a chunked body passes
    it), and the request line, headers and trailers may take at most 64 KiB
    together, however their bytes are split across reads (431 beyond);
  * no connection held forever: headers must arrive, and a body must keep
    arriving, within `--idle_timeout_seconds`, and a keep-alive connection
    idle that long is closed; a connection whose client has shut down its
    sending side is closed once nothing is left to answer on it.

The socket is bound by `RestServer()` itself, so a port in use is an error
at start-up, not in a background thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn

from tfsctl.serve.http_protocol import Protocol, connection_limit
from tfsctl.serve.rest import Response, RestApi, error_response
from tfsctl.servingapi.status import Code, ServingError

log = logging.getLogger("tfsctl.serve")

BACKLOG = 2048
class _Refused(Exception):
    """The request cannot be read to its end: answered, and the connection closed."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


class _App:
    """The ASGI application: read the body within the limits, run RestApi on the pool."""

    def __init__(self, api: RestApi, pool: ThreadPoolExecutor, idle_timeout: float):
        self.api, self.pool, self.idle_timeout = api, pool, idle_timeout

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {name: value for name, value in scope["headers"]
                   if name in (b"content-length", b"origin")}
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        close = False
        try:
            body = await self._body(receive, headers.get(b"content-length"))
        except _Refused as refused:
            response, close = refused.response, True
        else:
            origin = headers.get(b"origin", b"").decode("latin-1")
            response = await asyncio.get_running_loop().run_in_executor(
                self.pool, self.api.handle, scope["method"], target, body, origin)
        await self._send(send, response, close)

    async def _body(self, receive: Any, declared: bytes | None) -> bytes:
        limits = self.api.limits
        try:
            if declared is not None:
                limits.check_body(int(declared))
            parts: list[bytes] = []
            size = 0
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):  # no task per message
                        message = await receive()
                except TimeoutError:
                    raise _Refused(Response(408, json.dumps(
                        {"error": f"Request body not received within {self.idle_timeout}s"}
                    ).encode())) from None
                if message["type"] == "http.disconnect":
                    raise _Refused(error_response(Code.CANCELLED, "Client disconnected"))
                chunk = message.get("body", b"")
                size += len(chunk)
                limits.check_body(size)
                parts.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(parts)
        except ServingError as exc:
            raise _Refused(error_response(exc.code, exc.message)) from None

    async def _send(self, send: Any, response: Response, close: bool) -> None:
        headers = [(name.encode(), value.encode()) for name, value in self.api.cors_headers]
        if response.content_type:
            headers.append((b"content-type", response.content_type.encode()))
        headers.append((b"content-length", str(len(response.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


def default_threads() -> int:
    """TF Serving's default for --rest_api_num_threads: four per schedulable CPU."""
    return 4 * len(os.sched_getaffinity(0))


class RestServer:
    def __init__(self, address: tuple[str, int], api: RestApi, *, threads: int, idle_timeout: float,
                 drain_timeout: float):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(address)
            self._socket.listen(BACKLOG)
        except OSError:
            self._socket.close()
            raise
        self._pool = ThreadPoolExecutor(threads or default_threads(), thread_name_prefix="rest")
        protocol = functools.partial(Protocol, max_connections=connection_limit())
        config = uvicorn.Config(_App(api, self._pool, idle_timeout), http=protocol,  # type: ignore[arg-type]
                                ws="none",
                                lifespan="off", interface="asgi3", log_config=None,
                                access_log=False, server_header=False, backlog=BACKLOG,
                                proxy_headers=False,  # X-Forwarded-*: nothing here reads them
                                timeout_keep_alive=idle_timeout,  # type: ignore[arg-type]
                                timeout_graceful_shutdown=int(drain_timeout))
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([self._socket],),
                                        name="rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def drain(self, timeout: float) -> None:
        """Stop accepting connections, close idle ones, and wait up to `timeout` s for the
        requests being answered (uvicorn's graceful shutdown)."""
        self._server.should_exit = True
        self._thread.join(timeout + 5)
        self._pool.shutdown(wait=False, cancel_futures=True)
