"""The local runtime: `tfsctl serve` started detached, observed, waited for, stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support.net import free_port
from tfsctl.errors import TfsctlError
from tfsctl.runtimes import process

pytestmark = pytest.mark.slow


def test_start_observe_wait_stop(tmp_path: Path, models: Path) -> None:
    state_dir = tmp_path / "state"
    grpc_port, rest_port = free_port(), free_port()
    args = ["--host=127.0.0.1", f"--port={grpc_port}", f"--rest_api_port={rest_port}",
            "--model_name=hpt", f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}"]
    started = process.start(state_dir, args)
    try:
        assert (state_dir / process.PID).read_text().strip() == str(started.pid)
        assert json.loads((state_dir / process.RECORD).read_text())["args"] == args
        state = process.observe(state_dir)
        assert state is not None and state.alive and state.pid == started.pid
        assert state.args == tuple(args) and state.started_at == started.started_at
        url = f"http://127.0.0.1:{rest_port}"
        assert process.wait_ready(url, timeout=60, state_dir=state_dir) >= 0
        assert process.wait_ready(f"127.0.0.1:{grpc_port}", timeout=10) >= 0
        assert requests.post(url + "/v1/models/hpt:predict", json={"instances": [1.0]},
                             timeout=30).json() == {"predictions": [2.5]}
    finally:
        stopped = process.stop(state_dir, timeout=30)
    assert stopped
    assert process.observe(state_dir) is None
    assert "Server stopped" in process.tail(state_dir)  # SIGTERM: a clean exit, not a kill
    assert process.stop(state_dir) is False


def test_a_server_that_cannot_start_is_reported(tmp_path: Path, models: Path) -> None:
    # start only starts: a server that cannot run is reported by the wait on it
    refused = process.start(tmp_path / "a", ["--no_such_flag"])
    assert refused.handle.wait(timeout=60) != 0
    with pytest.raises(TfsctlError, match="exited while starting"):
        process.wait_ready(f"http://127.0.0.1:{free_port()}", timeout=60, state_dir=tmp_path / "a")
    state_dir = tmp_path / "b"
    rest_port = free_port()
    process.start(state_dir, ["--host=127.0.0.1", f"--port={free_port()}",
                              f"--rest_api_port={rest_port}", "--model_name=bad",
                              f"--model_base_path={models / 'bad_half_plus_two'}",
                              "--max_num_load_retries=0"])
    with pytest.raises(TfsctlError, match="exited while starting"):
        process.wait_ready(f"http://127.0.0.1:{rest_port}", timeout=60, state_dir=state_dir)
    state = process.observe(state_dir)
    assert state is not None and not state.alive
    assert "did not become available" in process.tail(state_dir)


def test_wait_ready_times_out(tmp_path: Path) -> None:
    with pytest.raises(TfsctlError, match="not ready within 0.5s"):
        process.wait_ready(f"http://127.0.0.1:{free_port()}", timeout=0.5)
