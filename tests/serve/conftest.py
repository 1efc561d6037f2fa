"""A real `tfsctl serve` process per test module, on free loopback ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import free_port


@dataclass
class Server:
    process: subprocess.Popen
    grpc: int
    rest: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest}"

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=30)

    def post(self, path: str, body: object) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30)

    def wait_for(self, predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"condition not met in {timeout}s; log:\n{self.log.read_text()[-3000:]}")


def start_server(args: list[str], log: Path, wait: bool = True) -> Server:
    grpc_port, rest_port = free_port(), free_port()
    handle = open(log, "wb")  # noqa: SIM115 - owned by the process
    process = subprocess.Popen(
        [sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1", f"--port={grpc_port}",
         f"--rest_api_port={rest_port}", *args], stdout=handle, stderr=subprocess.STDOUT)
    server = Server(process, grpc_port, rest_port, log)
    if wait:
        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited {process.returncode}:\n{log.read_text()}")
            try:
                return requests.get(server.url + "/v1/models/none", timeout=1).status_code == 404
            except requests.RequestException:
                return False
        server.wait_for(up)
    return server


def stop_server(server: Server) -> int:
    server.process.terminate()
    try:
        return server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return -9


@pytest.fixture
def models(tfs_testdata: Path, tmp_path: Path) -> Path:
    """Writable copies of TF Serving's test models."""
    root = tmp_path / "models"
    for name in ("saved_model_half_plus_two_cpu", "saved_model_half_plus_three",
                 "saved_model_half_plus_two_2_versions", "bad_half_plus_two"):
        shutil.copytree(tfs_testdata / name, root / name)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    started: list[Server] = []

    def run(*args: str, wait: bool = True) -> Server:
        server = start_server(list(args), tmp_path / f"server{len(started)}.log", wait)
        started.append(server)
        return server

    yield run
    for server in started:
        if server.process.poll() is None:
            stop_server(server)
