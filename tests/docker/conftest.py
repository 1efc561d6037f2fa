"""Fixtures for the Docker tests: a real engine, the locally built images, clean-up.

These tests run in CI (after .ci/docker.sh), so a missing engine or image is a
failure with instructions, never a skip. Every container a test makes carries a
name (and server label) starting with the session's unique prefix, and all of
them are removed at the end of each test, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tfsctl.runtimes.engine.containers import SERVER_LABEL, Containers

BASE_IMAGE = os.environ.get("TFSCTL_BASE_IMAGE", "tfsctl/base:bookworm")
SERVE_IMAGE = os.environ.get("TFSCTL_TEST_IMAGE", "tfsctl/serve:dev")
PREFIX = f"tfsctl-test-{os.getpid()}-{secrets.token_hex(3)}"
_BUILD = "run scripts/build_image.sh (or .ci/docker.sh, which also starts the engine)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def docker_client() -> Any:
    import docker

    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "no engine"
        pytest.fail(f"the Docker engine is not reachable ({exc}); start it with .ci/docker.sh "
                    "(as root) or point DOCKER_HOST at one", pytrace=False)
    return client


def _require_image(client: Any, image: str) -> str:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {image} is not built: {_BUILD}", pytrace=False)
    return image


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    return _require_image(docker_client, BASE_IMAGE)


@pytest.fixture(scope="session")
def serve_image(docker_client: Any) -> str:
    return _require_image(docker_client, SERVE_IMAGE)


@pytest.fixture
def runtime(docker_client: Any) -> Containers:
    return Containers(docker_client)


@pytest.fixture
def unique(docker_client: Any) -> Iterator[Callable[[str], str]]:
    """unique("web") -> a fresh container/server name; everything under the prefix is removed after."""
    made: list[str] = []

    def make(stem: str) -> str:
        name = f"{PREFIX}-{stem}-{secrets.token_hex(2)}"
        made.append(name)
        return name

    yield make
    _remove_prefixed(docker_client, made)


def _remove_prefixed(client: Any, names: list[str]) -> None:
    import docker.errors

    for container in client.containers.list(all=True):
        name = container.name
        server = (container.labels or {}).get(SERVER_LABEL, "")
        if any(name.startswith(n) or server == n for n in names):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


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
