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
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.images import BASE_IMAGE, BUILD_HINT, SERVE_IMAGE
from tfsctl.runtimes.engine.container_spec import SERVER_LABEL
from tfsctl.runtimes.engine.containers import Containers

PREFIX = f"tfsctl-test-{os.getpid()}-{secrets.token_hex(3)}"


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
        pytest.fail(f"image {image} is not built: {BUILD_HINT}", pytrace=False)
    return image


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    return _require_image(docker_client, BASE_IMAGE)


@pytest.fixture(scope="session")
def serve_image(docker_client: Any) -> str:
    return _require_image(docker_client, SERVE_IMAGE)


@pytest.fixture
def containers(docker_client: Any) -> Containers:
    """tfsctl's engine layer on the test engine, as apply uses it."""
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
    """Remove every container named after one of `names` (also `tfsctl-<name>`, the docker
    runtime's name for a server) or labelled as serving one of them."""
    import docker.errors

    for container in client.containers.list(all=True):
        name = container.name
        server = (container.labels or {}).get(SERVER_LABEL, "")
        if any(name.startswith((n, f"tfsctl-{n}")) or server == n for n in names):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
