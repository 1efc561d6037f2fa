"""The local runtime's process: `tfsctl serve` started detached, observed, stopped.

How apply waits on it and reports a server that cannot start is the driver's (see
tests/e2e for a port in use, a stray server and a server that exits)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support.net import free_port, wait_http
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
        wait_http(url + "/v1/models/hpt", timeout=60,
                  alive=lambda: None if (s := process.observe(state_dir)) and s.alive else "it exited")
        assert requests.post(url + "/v1/models/hpt:predict", json={"instances": [1.0]},
                             timeout=30).json() == {"predictions": [2.5]}
    finally:
        stopped = process.stop(state_dir, timeout=30)
    assert stopped
    assert process.observe(state_dir) is None
    assert "Server stopped" in process.tail(state_dir)  # SIGTERM: a clean exit, not a kill
    assert process.stop(state_dir) is False


def test_a_server_that_cannot_start_exits_with_the_reason_in_its_log(tmp_path: Path,
                                                                    models: Path) -> None:
    # start only starts: a server that cannot run exits, and its log says why
    refused = process.start(tmp_path / "a", ["--no_such_flag"])
    assert refused.handle.wait(timeout=60) != 0
    state = process.observe(tmp_path / "a")
    assert state is not None and not state.alive
    assert "no_such_flag" in process.tail(tmp_path / "a")
    state_dir = tmp_path / "b"
    bad = process.start(state_dir, ["--host=127.0.0.1", f"--port={free_port()}",
                                    f"--rest_api_port={free_port()}", "--model_name=bad",
                                    f"--model_base_path={models / 'bad_half_plus_two'}",
                                    "--max_num_load_retries=0"])
    assert bad.handle.wait(timeout=120) != 0
    state = process.observe(state_dir)
    assert state is not None and not state.alive
    assert "did not become available" in process.tail(state_dir)
