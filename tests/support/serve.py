"""Real `tfsctl serve` processes on free loopback ports, and the model.config text they read."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.net import free_port


@dataclass
class Server:
    """A `tfsctl serve` process a test started, and how to talk to it."""

    process: subprocess.Popen
    grpc: int
    rest: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rest}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=30)

    def post(self, path: str, body: object) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30)

    def states(self, model: str) -> dict[str, str]:
        """version -> state, from the REST status API ({} when the model is unknown)."""
        response = self.get(f"/v1/models/{model}")
        return {s["version"]: s["state"] for s in response.json().get("model_version_status", [])}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.2)
        raise AssertionError(f"condition not met in {timeout}s; log:\n{self.log.read_text()[-3000:]}")


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tfsctl.serve", *args]


def start_server(args: list[str], log: Path, wrapper: tuple[str, ...] = ()) -> Server:
    """`wrapper`: a command the server runs under, such as `prlimit --nofile=1024 --`."""
    grpc_port, rest_port = free_port(), free_port()
    with open(log, "wb") as handle:
        command = server_command("--host=127.0.0.1", f"--port={grpc_port}",
                                 f"--rest_api_port={rest_port}", *args)
        process = subprocess.Popen([*wrapper, *command], stdout=handle, stderr=subprocess.STDOUT)
    server = Server(process, grpc_port, rest_port, log)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited {process.returncode}:\n{log.read_text()}")
        try:
            return requests.get(server.url + "/v1/models/none", timeout=1).status_code == 404
        except requests.RequestException:
            return False

    server.wait_for(up)
    return server


def run_to_exit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """A server that is expected not to start: its exit code and output."""
    return subprocess.run(server_command("--host=127.0.0.1", f"--port={free_port()}", *args),
                          capture_output=True, text=True, timeout=timeout)


def stop_server(server: Server) -> int:
    """SIGTERM, and the exit code; a server still running after its drain window fails the
    test with every thread's stack (SIGUSR1) and the end of its log."""
    server.process.terminate()
    try:
        return server.process.wait(timeout=75)
    except subprocess.TimeoutExpired:
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        server.process.kill()
        server.process.wait()
        raise AssertionError("server did not stop on SIGTERM; threads and log:\n"
                             + server.log.read_text()[-8000:]) from None


def config_text(*blocks: str) -> str:
    return "model_config_list { " + " ".join(blocks) + " }"


def block(name: str, base: Path | str, policy: str = "", labels: dict[str, int] | None = None,
          platform: str = "tensorflow") -> str:
    label_text = "".join(f'version_labels {{ key: "{k}" value: {v} }} '
                         for k, v in (labels or {}).items())
    platform_text = f'model_platform: "{platform}" ' if platform else ""
    return f'config {{ name: "{name}" base_path: "{base}" {platform_text}{policy} {label_text}}}'


def write_config(path: Path, *blocks: str) -> Path:
    path.write_text(config_text(*blocks))
    return path
