"""`python -m tfsctl.gateway`: load the handler, bind the ports, serve with uvicorn.

The public port is bound with SO_REUSEPORT, so a new gateway can start beside the old one
on the same port: apply checks the new one on its private `--verify-port` (loopback, no
other traffic) and only then stops the old one, so a handler that fails to import or to
answer its smoke requests never replaces one that works. The handler is loaded before
any port is bound: a broken one exits 2 with its file and line on stderr.

Stopping (SIGTERM: docker stop, a swarm task's removal, the local runtime's swap) drains
before it closes anything a client may be about to use. uvicorn's own shutdown closes
every connection that has no request in progress at once, and among those are the ones
just accepted whose first request is on its way and the keep-alive ones between two
requests: their clients see a reset. So the listeners close first (the kernel moves the
connections they queued to the other gateway's listener: net.ipv4.tcp_migrate_req, which
.ci/docker.sh sets), then for at most `--drain-seconds` every answer says
`Connection: close`, so each client's next request opens a connection to the gateway
that replaces this one; only what is left after that is closed by uvicorn, as before.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import socket
import sys
from pathlib import Path

import uvicorn

from tfsctl.gateway.app import GatewayApp
from tfsctl.gateway.handler import HandlerLoadError, load_handler

BACKLOG = 2048
#: How long a stopping gateway answers with `Connection: close` before it closes what is
#: idle (within the 10 s its runtimes give it before they kill it).
DRAIN_SECONDS = 2.0
#: How often a draining gateway looks whether its clients have all gone (not a sync point).
_DRAIN_POLL = 0.05


class DrainingServer(uvicorn.Server):
    """uvicorn's server whose shutdown drains first (the module's docstring says why)."""

    def __init__(self, config: uvicorn.Config, app: GatewayApp, drain_seconds: float):
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        self.app.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_seconds
        while self.server_state.connections and loop.time() < deadline and not self.force_exit:
            await asyncio.sleep(_DRAIN_POLL)
        await super().shutdown(sockets)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tfsctl.gateway",
                                     description="A gateway in front of a TF Serving server.")
    parser.add_argument("--name", required=True, help="the gateway's name (its URL path)")
    parser.add_argument("--handler", required=True, type=Path, help="the handler module file")
    parser.add_argument("--server", required=True, help="the server's gRPC address, host:port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--verify-port", type=int, default=0,
                        help="also listen here on loopback (apply's checks)")
    parser.add_argument("--model", action="append", default=[],
                        help="a model readiness waits for (repeatable)")
    parser.add_argument("--max-body-bytes", type=int, default=1 << 20)
    parser.add_argument("--deadline-seconds", type=float, default=10.0)
    parser.add_argument("--drain-seconds", type=float, default=DRAIN_SECONDS,
                        help="on SIGTERM, how long answers close their connection before "
                             "idle connections are closed")
    return parser.parse_args(argv)


def _socket(host: str, port: int, *, shared: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # uvicorn writes an answer's headers and body apart; without TCP_NODELAY (which the
    # connections inherit from this socket; asyncio sets it only on sockets it binds) the
    # body waits for the client's delayed ACK: 40 ms on every keep-alive request
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"error: cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler_path = args.handler.resolve()
    try:
        handler = load_handler(handler_path)
    except HandlerLoadError as exc:
        print(f"error: handler: {exc}", file=sys.stderr, flush=True)
        return 2
    digest = hashlib.sha256(handler_path.read_bytes()).hexdigest()
    app = GatewayApp(args.name, handler, args.server, models=args.model,
                     max_body_bytes=args.max_body_bytes, deadline=args.deadline_seconds,
                     digest=digest)
    sockets = [_socket(args.host, args.port, shared=True)]
    if args.verify_port:
        sockets.append(_socket("127.0.0.1", args.verify_port, shared=False))
    config = uvicorn.Config(app, loop="asyncio", http="httptools", ws="none", lifespan="off",
                            log_config=None, access_log=False, server_header=False,
                            backlog=BACKLOG, timeout_graceful_shutdown=10)
    logging.getLogger("tfsctl.gateway").info(
        "gateway %s: handler %s (sha256 %s), server %s, listening on %s:%d", args.name,
        handler_path, digest[:12], args.server, args.host, args.port)
    DrainingServer(config, app, args.drain_seconds).run(sockets=sockets)
    return 0
