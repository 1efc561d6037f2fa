"""Helpers for the swarm runtime's tests: the swarm scripts, a swarm server's spec, and a
bounded predict load that keeps every failure."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.deployment import Deployment
from tests.support.images import SERVE_IMAGE
from tests.support.paths import REPO

#: The directory worker nodes share with this machine, at the same path (the model roots).
SHARED = Path(os.environ.get("TFSCTL_SWARM_SHARED", "/tmp/tfsctl-swarm"))


def run_script(*args: str, timeout: float = 900) -> None:
    env = {**os.environ, "TFSCTL_SWARM_SHARED": str(SHARED)}
    result = subprocess.run(["bash", str(REPO / "scripts" / args[0]), *args[1:]],
                            capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        pytest.fail(f"scripts/{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


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
