"""The REST server's HTTP/1.1 connections: uvicorn's httptools protocol, bounded.

What uvicorn leaves open to any client and this closes: the size of the request
line, headers and trailers, the time until they arrive, connections whose
client has gone, and the number of connections (each holds a file descriptor
that the rest of the server needs as well).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("tfsctl.serve")

MAX_HEADER_BYTES = 64 << 10
#: File descriptors kept out of the REST server's reach: for gRPC, the model manager's
#: listings and loads, and TensorFlow (at least this many, or a quarter of the limit).
FD_RESERVE = 64


def connection_limit() -> int:
    """How many REST connections may be open at once: the process's file descriptor limit
    less a reserve, so that a flood of connections is refused with a 503 and closed while
    the rest of the server keeps the descriptors it needs."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    return max(16, soft - max(FD_RESERVE, soft // 4))


class _TooLarge(Exception):
    """Raised from a parser callback: the request line, headers and trailers passed the cap."""


class Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the request line and headers, a cap on
    them and on trailers, a connection closed as soon as its client is gone, and TF
    Serving's JSON error body for requests the parser refuses.

    The cap counts what the parser reads (the URL, each header and trailer field), so it
    holds however the bytes are split across reads. A field still being read is counted
    too (`_unparsed`: bytes fed since the parser last finished something), because httptools
    joins a field's pieces with `bytes +=`: without that bound one endless field would be
    copied over and over on the event loop. Trailers are counted, then dropped: nothing
    here reads them."""

    def __init__(self, *args: Any, max_connections: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._max_connections = max_connections
        self._field_bytes = 0  # URL, headers and trailers of the current request
        self._unparsed = 0
        self._in_headers = False
        self._eof = False
        self._header_deadline: asyncio.TimerHandle | None = None

    def _await_request(self) -> None:
        """Start waiting for the next request's headers (a new connection, or after an answer)."""
        self._cancel_deadline()
        self._header_deadline = self.loop.call_later(self.timeout_keep_alive, self._give_up)

    def _cancel_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _give_up(self) -> None:
        if not self.transport.is_closing():
            log.debug("rest: closing a connection that sent no complete request in %ss",
                      self.timeout_keep_alive)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            self._send_error(503, "Service Unavailable",
                             f"Too many connections (at most {self._max_connections})")
            return
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unparsed += len(data)  # set back to 0 by the parser's callbacks as it goes
        try:
            super().data_received(data)
        except _TooLarge:
            self._refuse_fields()
            return
        if self._unparsed > MAX_HEADER_BYTES:
            self._refuse_fields()

    def _count(self, size: int) -> None:
        self._unparsed = 0
        self._field_bytes += size
        if self._field_bytes > MAX_HEADER_BYTES:
            raise _TooLarge

    def _progress(self) -> None:
        self._unparsed = 0

    def _refuse_fields(self) -> None:
        if not self.transport.is_closing():
            self._cancel_deadline()
            self._send_error(431, "Request Header Fields Too Large",
                             f"Request line, headers and trailers exceed {MAX_HEADER_BYTES} bytes")

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():
            if self._field_bytes > MAX_HEADER_BYTES or self._unparsed > MAX_HEADER_BYTES:
                self._refuse_fields()  # raised in a parser callback, reported as a parse error
            else:
                self._send_error(400, "Bad Request", f"Malformed HTTP request: {msg}")

    def _send_error(self, status: int, reason: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                             + body)
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._field_bytes, self._unparsed, self._in_headers = 0, 0, True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        if self._in_headers:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        self._in_headers = False
        self._progress()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._progress()
        super().on_body(body)

    def on_chunk_header(self) -> None:
        self._progress()

    def on_message_complete(self) -> None:
        self._progress()
        super().on_message_complete()

    def eof_received(self) -> bool:  # type: ignore[override]  # asyncio.Protocol allows bool
        """A client may shut down its sending side once the request is out (`nc -N`, HTTP/1.0
        clients): while a request is being answered the connection stays open, so that the
        answer still goes back, and is closed after it. Otherwise no request can follow:
        the connection is closed now, so that clients that connect and leave cannot pile
        up connections (each holds a file descriptor) until a deadline."""
        self._eof = True
        return self._answering()

    def _answering(self) -> bool:
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._eof and not self._answering():
            self.transport.close()
        elif not self.transport.is_closing():
            self._await_request()
