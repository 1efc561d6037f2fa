"""A server that cannot start fails apply in seconds, with the cause; a stranger on the
ports is never taken for the server apply started."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.deployment import HALF_PLUS_TWO, Deployment

pytestmark = pytest.mark.slow


def _spec(d: Deployment) -> None:
    d.write([{"name": "hpt", "versions": {1: {"source": {"saved_model": str(HALF_PLUS_TWO)}}}}])


def _nothing_left(d: Deployment) -> None:
    status = d.tfsctl("status", "-f", str(d.spec_file), "--json", check=True).stdout
    assert '"status": "missing"' in status, status
    assert not (d.root / "models/model.config").exists()
    assert not (d.root / "models/hpt/1").exists(), "the export was taken back"


def test_a_port_held_by_another_program_fails_apply_naming_it(deployment: Deployment) -> None:
    d = deployment
    _spec(d)
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", d.rest))
        holder.listen()
        # a hang would run into the subprocess timeout: apply's own --timeout is longer
        failed = d.tfsctl("apply", "-f", str(d.spec_file), "--auto-approve", "--timeout", "600",
                          timeout=300)
        assert failed.returncode == 1
        assert f"REST port {d.rest}" in failed.stderr and "already in use" in failed.stderr
        assert "Apply complete" not in failed.stdout
        _nothing_left(d)
    d.apply()  # the port is free again: the same spec applies
    assert d.predict("hpt", [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]


def test_a_stray_server_on_the_ports_is_never_taken_for_ours(tmp_path: Path) -> None:
    """The usual meaning of "port in use": another server answering the same requests."""
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    _spec(d)
    models = tmp_path / "stray-models/hpt"
    models.mkdir(parents=True)
    (models / "1").symlink_to(HALF_PLUS_TWO)
    stray = subprocess.Popen([sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1",
                              f"--port={d.grpc}", f"--rest_api_port={d.rest}", "--model_name=hpt",
                              f"--model_base_path={models}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_answering(d.rest, stray)
        failed = d.tfsctl("apply", "-f", str(d.spec_file), "--auto-approve", "--timeout", "600",
                          timeout=300)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "Apply complete" not in failed.stdout
        assert "already in use by pid" in failed.stderr and str(stray.pid) in failed.stderr
        _nothing_left(d)
    finally:
        stray.terminate()
        stray.wait(timeout=60)
    try:
        d.apply()
        assert d.predict("hpt", [1.0, 2.0, 5.0]) == [2.5, 3.0, 4.5]
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def _wait_answering(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until the stray server answers its status (it exits instead: fail at once)."""
    while process.poll() is None:
        try:
            if requests.get(f"http://127.0.0.1:{port}/v1/models/hpt", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)  # an event to wait on: the stray server exiting
    raise AssertionError(f"the stray server exited with {process.returncode}")
