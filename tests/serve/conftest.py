"""Fixtures for the server tests: writable copies of TF Serving's models, and real `tfsctl serve`
processes on free loopback ports, stopped after each test (helpers: tests/support/serve.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.models import writable_copies
from tests.support.serve import Server, start_server, stop_server


@pytest.fixture
def models(tfs_testdata: Path, tmp_path: Path) -> Path:
    """Writable copies of TF Serving's test models."""
    return writable_copies(tfs_testdata, ("saved_model_half_plus_two_cpu", "saved_model_half_plus_three",
                                          "saved_model_half_plus_two_2_versions", "bad_half_plus_two"),
                           tmp_path / "models")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def run(*args: str) -> Server:
        server = start_server(list(args), tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server

    yield run
    for server in started:
        if server.process.poll() is None:
            stop_server(server)
