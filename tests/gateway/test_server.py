"""The gateway's listening sockets: shared with the gateway it replaces, answering without
waiting for delayed ACKs, and drained on SIGTERM before anything a client uses is closed."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.net import free_port
from tfsctl.gateway.server import _socket, main


def test_two_gateways_share_the_public_port_without_delay() -> None:
    first = _socket("127.0.0.1", 0, shared=True)
    port = first.getsockname()[1]
    second = _socket("127.0.0.1", port, shared=True)  # the new gateway beside the old one
    try:
        for sock in (first, second):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        first.close()
        second.close()


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot listen on 127.0.0.1:{port}"):
            _socket("127.0.0.1", port, shared=True)


def test_a_broken_handler_exits_2_naming_it(tmp_path: object, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    handler = Path(str(tmp_path)) / "h.py"
    handler.write_text("x = (\n")
    assert main(["--name", "g", "--handler", str(handler), "--server", "127.0.0.1:1",
                 "--port", "1"]) == 2
    assert capsys.readouterr().err.startswith(f"error: handler: {handler}:1: SyntaxError")


def _answer(sock: socket.socket) -> bytes:
    """One HTTP answer's bytes (its head and Content-Length body), or what came before EOF."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + int(
            data.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_stopping_gateway_answers_the_connections_it_accepted(tmp_path: object) -> None:
    """SIGTERM closes the listener at once, but a connection accepted just before (its first
    request still on its way) and a keep-alive one between two requests are both answered,
    with `Connection: close`; uvicorn alone closes them unanswered (clients see resets)."""
    handler = Path(str(tmp_path)) / "h.py"
    handler.write_text("def preprocess(p):\n    return {}\n\ndef postprocess(p, o):\n    return {}\n")
    port = free_port()
    gateway = subprocess.Popen(
        [sys.executable, "-m", "tfsctl.gateway", "--name", "g", "--handler", str(handler),
         "--server", "127.0.0.1:1", "--port", str(port), "--drain-seconds", "120"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    request = b"GET /nowhere HTTP/1.1\r\nHost: g\r\n\r\n"
    try:
        deadline = time.monotonic() + 60
        while True:  # the port answers once the handler is loaded and the socket bound
            try:
                kept = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except ConnectionRefusedError:
                assert gateway.poll() is None and time.monotonic() < deadline, \
                    gateway.stderr.read() if gateway.stderr else ""
                time.sleep(0.1)
        kept.sendall(request)
        assert b"404" in _answer(kept).split(b"\r\n", 1)[0]  # now idle between two requests
        fresh = socket.create_connection(("127.0.0.1", port), timeout=60)
        gateway.send_signal(signal.SIGTERM)
        while True:  # the listener is closed: the gateway has begun to stop
            try:
                socket.create_connection(("127.0.0.1", port), timeout=60).close()
                assert time.monotonic() < deadline, "the gateway kept listening after SIGTERM"
                time.sleep(0.1)
            except ConnectionRefusedError:
                break
        for sock in (fresh, kept):
            sock.sendall(request)
            answer = _answer(sock)
            assert answer.startswith(b"HTTP/1.1 404"), answer
            assert b"connection: close" in answer.lower()
            sock.close()
        # nothing left to drain: it exits (by the signal, as uvicorn re-raises it) before 120 s
        assert gateway.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if gateway.poll() is None:
            gateway.kill()
        gateway.wait()
