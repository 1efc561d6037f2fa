"""Loopback ports and HTTP readiness, for tests that start servers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def held_port() -> Iterator[int]:
    """A loopback port this process listens on for the block: anything else binding it fails."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30, ok: Callable[[requests.Response], bool] | None = None,
              alive: Callable[[], str | None] | None = None) -> requests.Response:
    """Poll url until it answers 200 (and ok(response)); alive() returns a reason to stop early."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200 and (ok is None or ok(response)):
                return response
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except requests.RequestException as exc:
            last = exc
        if alive is not None and (why := alive()) is not None:
            pytest.fail(f"{url}: {why}", pytrace=False)
        time.sleep(0.3)
    pytest.fail(f"{url} not ready after {timeout}s (last: {last})", pytrace=False)
