"""Fixtures for the swarm runtime's tests: this engine as a swarm manager, an optional
worker node (a Docker engine in a container, scripts/swarm.sh), and deployments whose
model roots lie in the directory shared with the workers (at the same path on each).

Like the other Docker tests these run in CI: a missing engine, image or swarm is a
failure with instructions, never a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from tests.support.deployment import Deployment
from tests.support.swarm import SHARED, run_script


@pytest.fixture(scope="session")
def swarm_manager() -> None:
    """This engine is a swarm manager and the proxy image is built (both idempotent)."""
    run_script("swarm.sh", "init")
    run_script("build_proxy_image.sh")


@pytest.fixture(scope="module")
def swarm_worker(swarm_manager: None) -> Iterator[None]:
    """One worker node joined for the module's tests, removed afterwards."""
    run_script("swarm.sh", "up", "1")
    try:
        yield
    finally:
        run_script("swarm.sh", "down")


@pytest.fixture
def swarm_deployment(swarm_manager: None) -> Iterator[Deployment]:
    SHARED.mkdir(parents=True, exist_ok=True)
    base = SHARED / f"test-{os.getpid()}-{secrets.token_hex(3)}"
    deploy = Deployment(root=base / "project", runtime="swarm")
    deploy.root.mkdir(parents=True)
    try:
        yield deploy
    finally:
        if deploy.spec_file.exists():
            deploy.tfsctl("destroy", "-f", str(deploy.spec_file), "--auto-approve")
        shutil.rmtree(base, ignore_errors=True)


