"""Shared bits of the benchmarks, so that every script measures the same way.

Tables and JSON results (bench/results/, gitignored), the model they roll out
(half_plus_two from examples/), a tfsctl-managed server described by a spec,
the hand-written model.config and container a team would use instead, a
bounded stream of predicts, and the checks that turn a missing Docker engine
or image into one clear sentence instead of a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
#: One version dir of half_plus_two: rolled out as version 1, then again as version 2.
MODEL = REPO / "examples" / "models" / "half_plus_two" / "1"
IMAGE = os.environ.get("TFSCTL_BENCH_IMAGE", "tfsctl/serve:dev")
PREDICT = {"instances": [1.0, 2.0, 5.0]}
ANSWER = {"predictions": [2.5, 3.0, 4.5]}
#: What every server here runs with: tfsctl always passes the second flag (TF Serving
#: refuses to start from a labelled model.config without it, tensorflow/serving#1230).
SERVING_ARGS = ["--model_config_file=/models/model.config",
                "--allow_version_labels_for_unavailable_models=true"]


class BenchError(Exception):
    """A benchmark cannot go on; main() prints the message and exits 1."""


# ---------------------------------------------------------------- results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def medians(runs: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The median of every numeric key of a list of rounds."""
    keys = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    return {k: median([r[k] for r in runs]) for k in keys}


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def rotated(items: Sequence[str], round_index: int) -> list[str]:
    """Round-robin with a moving start, so no way always runs first (on a cold cache)."""
    shift = round_index % len(items)
    return [*items[shift:], *items[:shift]]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers))] + [[f"{c:.3f}" if isinstance(c, float) else str(c)
                                          for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # a label first, then figures
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "at": datetime.now(UTC).isoformat(),
                                "machine": platform.platform(), "cpus": os.cpu_count(), **data},
                               indent=2) + "\n")
    return path


def run_main(name: str, main: Callable[[], int]) -> int:
    """Run a benchmark's main; a BenchError is one line on stderr and exit 1, not a traceback."""
    try:
        return main()
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(args: Sequence[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a command; a failure raises BenchError with the command's own last words."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)
    if done.returncode:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise BenchError(f"`{' '.join(args)}` exited {done.returncode}:\n{tail}")
    return done


def tfsctl_command(*args: str) -> list[str]:
    """The CLI as a user runs it: a fresh Python process."""
    return [sys.executable, "-m", "tfsctl.cli.main", *args]


def tfsctl(*args: str) -> subprocess.CompletedProcess[str]:
    return run(tfsctl_command(*args))


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


# ---------------------------------------------------------------- Docker


def require_docker(benchmark: str, image: str = IMAGE) -> None:
    """Exit with what to run when the Docker CLI, the engine or the image is missing."""
    fix = "run .ci/docker.sh (as root) first: it installs Docker, starts the engine, builds the image"
    if shutil.which("docker") is None:
        sys.exit(f"{benchmark}: the docker command is not installed; {fix}")
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode:
        sys.exit(f"{benchmark}: no Docker engine answers; {fix}")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                      check=False).returncode:
        sys.exit(f"{benchmark}: the image {image} is not built; {fix}")


def docker_run_serving(name: str, model_root: Path, rest: int, grpc: int | None = None) -> None:
    """The container a team starts by hand: the image's ports on loopback, /models read-only."""
    ports = ["-p", f"127.0.0.1:{rest}:8501"] + (["-p", f"127.0.0.1:{grpc}:8500"] if grpc else [])
    run(["docker", "run", "-d", "--name", name, *ports, "-v", f"{model_root}:/models:ro", IMAGE,
         *SERVING_ARGS])


def docker_rm(name: str) -> None:
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def model_config_text(base_path: str, versions: Sequence[int], stable: int) -> str:
    """model.config as a team writes it by hand for the classic ways (one model, one label)."""
    policy = " ".join(f"versions: {v}" for v in versions)
    return (f'model_config_list {{ config {{ name: "half_plus_two" base_path: "{base_path}" '
            f'model_platform: "tensorflow" model_version_policy {{ specific {{ {policy} }} }} '
            f'version_labels {{ key: "stable" value: {stable} }} }} }}\n')


def add_version(model_root: Path, version: int) -> None:
    """Copy half_plus_two in as `version`, as a team (or CI) drops a new export in place."""
    shutil.copytree(MODEL, model_root / "half_plus_two" / str(version))


# ---------------------------------------------------------------- tfsctl-managed servers


@dataclass
class SpecServer:
    """One server that tfsctl manages through a spec: its ports and what it should serve.

    `exported`: versions are listed with MODEL as their source, so apply exports a
    missing one (a real rollout); otherwise they must already be on disk.
    """

    work: Path
    runtime: str
    name: str
    exported: bool = True
    replicas: int = 1  # swarm only
    #: the server's `rollout:` (None: the default, blue/green)
    rollout: dict[str, Any] | None = None
    #: versions exported from another SavedModel than half_plus_two's
    sources: dict[int, Path] = field(default_factory=dict)
    grpc: int = field(default_factory=free_port)
    rest: int = field(default_factory=free_port)

    @property
    def spec(self) -> Path:
        return self.work / "tfsctl.yaml"

    @property
    def model_root(self) -> Path:
        return self.work / "models"

    def write(self, versions: Sequence[int], stable: int | None = None,
              batching: bool = False) -> None:
        """The spec; `batching` is a server setting, so changing it makes apply replace."""
        model: dict[str, Any] = {
            "name": "half_plus_two", "policy": {"specific": list(versions)},
            "versions": {v: {"source": {"saved_model": str(self.sources.get(v, MODEL))}}
                         if self.exported else {} for v in versions}}
        if stable is not None:
            model["labels"] = {"stable": stable}
        server: dict[str, Any] = {"name": self.name, "runtime": self.runtime, "model_root": "models",
                                  "ports": {"grpc": self.grpc, "rest": self.rest}, "models": [model]}
        if self.runtime in ("docker", "swarm"):
            server["image"] = IMAGE
        if self.runtime == "swarm":
            server["replicas"] = self.replicas
        if self.rollout is not None:
            server["rollout"] = self.rollout
        if batching:
            server["batching"] = {"max_batch_size": 32, "batch_timeout_micros": 1000}
        self.spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [server]}))

    def apply(self) -> None:
        tfsctl("apply", "-f", str(self.spec), "--auto-approve")

    @contextlib.contextmanager
    def deployed(self, versions: Sequence[int], stable: int | None = None) -> Iterator[SpecServer]:
        """Applied with `versions`; destroyed afterwards whatever happened (even a failed create)."""
        try:
            self.write(versions, stable)
            self.apply()
            yield self
        finally:
            subprocess.run(tfsctl_command("destroy", "-f", str(self.spec), "--auto-approve"),
                           capture_output=True, check=False)


# ---------------------------------------------------------------- waiting and load


def _poll(check: Callable[[], bool], what: str, timeout: float, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(interval)
    raise BenchError(f"{what} within {timeout:.0f} s")


def wait_for_version(rest: int, version: int, start: float, timeout: float = 120) -> float:
    """Seconds from `start` until `version` answers a predict (polled every 50 ms)."""
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two/versions/{version}:predict"
    _poll(lambda: requests.post(url, json=PREDICT, timeout=1).status_code == 200,
          f"version {version} did not answer", timeout - (time.monotonic() - start), 0.05)
    return time.monotonic() - start


def wait_available(rest: int, version: int, timeout: float = 120) -> None:
    """Until the server reports `version` AVAILABLE (REST status, polled every 10 ms)."""
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two/versions/{version}"

    def available() -> bool:
        states = requests.get(url, timeout=1).json().get("model_version_status", [])
        return any(s.get("state") == "AVAILABLE" for s in states)

    _poll(available, f"version {version} was not AVAILABLE", timeout, 0.01)


