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
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import REPO, SERVE_IMAGE, Deployment

SHARED = Path(os.environ.get("TFSCTL_SWARM_SHARED", "/tmp/tfsctl-swarm"))


def _script(*args: str, timeout: float = 900) -> None:
    env = {**os.environ, "TFSCTL_SWARM_SHARED": str(SHARED)}
    result = subprocess.run(["bash", str(REPO / "scripts" / args[0]), *args[1:]],
                            capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        pytest.fail(f"scripts/{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def swarm_manager() -> None:
    """This engine is a swarm manager and the proxy image is built (both idempotent)."""
    _script("swarm.sh", "init")
    _script("build_proxy_image.sh")


@pytest.fixture(scope="module")
def swarm_worker(swarm_manager: None) -> Iterator[None]:
    """One worker node joined for the module's tests, removed afterwards."""
    _script("swarm.sh", "up", "1")
    try:
        yield
    finally:
        _script("swarm.sh", "down")


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


def swarm_server(deploy: Deployment, models: list[dict[str, Any]], **server: Any) -> None:
    deploy.write(models, image=SERVE_IMAGE, replicas=2, **server)


@dataclass
class Load:
    """Predict requests in a loop on a thread, through the proxy, while a change runs:
    bounded in count and time, every failure kept (status or exception)."""

    url: str
    limit: int = 20_000
    seconds: float = 600
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.seconds
        while not self._stop.is_set() and self.ok + len(self.failures) < self.limit \
                and time.monotonic() < deadline:
            try:
                response = session.post(self.url, json={"instances": [1.0]}, timeout=30)
                if response.status_code == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"HTTP {response.status_code}: {response.text[:200]}")
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}"[:300])
            self._stop.wait(0.01)

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=60)
