"""The gateway's listening sockets: shared with the gateway it replaces, and answering
without waiting for delayed ACKs."""

from __future__ import annotations

import socket

import pytest

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
    from pathlib import Path

    handler = Path(str(tmp_path)) / "h.py"
    handler.write_text("x = (\n")
    assert main(["--name", "g", "--handler", str(handler), "--server", "127.0.0.1:1",
                 "--port", "1"]) == 2
    assert capsys.readouterr().err.startswith(f"error: handler: {handler}:1: SyntaxError")
