#!/usr/bin/env python3
"""apply overhead: what `tfsctl apply` adds on top of the server's own load time.

For a new version that is already on disk (so no export is timed), per round:
  * hot reload floor: the same change made by hand, straight to the server:
    write model.config, gRPC HandleReloadConfigRequest, poll the REST status
    until the version is AVAILABLE;
  * hot reload by `tfsctl apply --auto-approve` (wall time of the command, which
    returns once the version is AVAILABLE), on the local and docker runtimes;
  * replace floor: `docker run` of a fresh container with the new config until
    the version is AVAILABLE; replace by `tfsctl apply` (a container setting
    changed too), wall time.
Also the fixed costs inside every command: `tfsctl --version` (Python start-up)
and `tfsctl plan`, and the import of TensorFlow that apply pays to use the
official serving protos. Prints medians, overhead and ratio; writes
bench/results/apply_overhead.json. Needs the Docker engine and tfsctl/serve:dev
(.ci/docker.sh).

    python bench/apply_overhead.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import median, save, table  # noqa: E402
from bench.rollout import IMAGE, MODEL, tfsctl  # noqa: E402
from bench.serve_predict import free_port  # noqa: E402
from tfsctl.apply.server_client import Endpoint, reload_config  # noqa: E402
from tfsctl.serverconfig.model_config import parse_text  # noqa: E402
from tfsctl.tfenv import import_tensorflow  # noqa: E402


def _timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def _wait_available(rest: int, version: int, timeout: float = 120) -> None:
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two/versions/{version}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            states = requests.get(url, timeout=1).json().get("model_version_status", [])
            if any(s["state"] == "AVAILABLE" for s in states):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"version {version} never became AVAILABLE")


class Deployment:
    """One server with versions 1 and 2 on disk; the spec serves [1] or [1, 2]."""

    def __init__(self, work: Path, runtime: str):
        self.work, self.runtime = work, runtime
        self.grpc, self.rest = free_port(), free_port()
        self.spec = work / "tfsctl.yaml"
        for version in (1, 2):
            shutil.copytree(MODEL, work / "models" / "half_plus_two" / str(version))

    def write(self, versions: list[int], rollout: str = "a") -> None:
        server = {"name": f"bench-overhead-{os.getpid()}", "runtime": self.runtime,
                  "model_root": "models", "ports": {"grpc": self.grpc, "rest": self.rest},
                  "env": {"ROLLOUT": rollout},
                  "models": [{"name": "half_plus_two", "policy": {"specific": versions},
                              "versions": {v: {} for v in versions}}]}
        if self.runtime == "docker":
            server["image"] = IMAGE
        self.spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [server]}))

    def apply(self) -> None:
        tfsctl("apply", "-f", str(self.spec), "--auto-approve")

    def config_text(self) -> str:
        return (self.work / "models" / "model.config").read_text()


def _reload_floor(d: Deployment) -> float:
    """Version 2 added straight through the server's reload API (what apply asks it to do)."""
    d.write([1, 2])
    rendered = subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "render", "-f", str(d.spec)],
                              check=True, capture_output=True, text=True).stdout
    entries = parse_text(rendered)
    endpoint = Endpoint("127.0.0.1", d.grpc, d.rest)
    start = time.monotonic()
    reload_config(endpoint, entries)
    _wait_available(d.rest, 2)
    return time.monotonic() - start


def hot_reload(work: Path, runtime: str) -> dict[str, float]:
    d = Deployment(work, runtime)
    d.write([1])
    d.apply()
    try:
        floor = _reload_floor(d)
        d.write([1])
        d.apply()  # back to [1] through tfsctl, so the next change is the same change
        d.write([1, 2])
        applied = _timed(d.apply)
        return {"floor_s": floor, "apply_s": applied}
    finally:
        tfsctl("destroy", "-f", str(d.spec), "--auto-approve")


def replace(work: Path) -> dict[str, float]:
    d = Deployment(work, "docker")
    d.write([1])
    d.apply()
    try:
        d.write([1, 2], rollout="b")
        applied = _timed(d.apply)
        config = d.config_text()
    finally:
        tfsctl("destroy", "-f", str(d.spec), "--auto-approve")
    (work / "models" / "model.config").write_text(config)
    name, rest = f"bench-floor-{os.getpid()}", free_port()
    start = time.monotonic()
    subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{rest}:8501",
                    "-v", f"{work / 'models'}:/models:ro", IMAGE,
                    "--model_config_file=/models/model.config",
                    "--allow_version_labels_for_unavailable_models=true"],
                   check=True, capture_output=True)
    try:
        _wait_available(rest, 2)
        floor = time.monotonic() - start
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return {"floor_s": floor, "apply_s": applied}


def fixed_costs(work: Path) -> dict[str, float]:
    d = Deployment(work, "local")
    d.write([1])
    protos = ("from tfsctl.tfenv import import_tensorflow; import_tensorflow(); "
              "import tensorflow_serving.apis.model_service_pb2_grpc")
    return {"startup_s": _timed(lambda: tfsctl("--version")),
            "protos_s": _timed(lambda: subprocess.run([sys.executable, "-c", protos], check=True)),
            "plan_s": _timed(lambda: subprocess.run(
                [sys.executable, "-m", "tfsctl.cli.main", "plan", "-f", str(d.spec)],
                capture_output=True, check=False))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        sys.exit(f"apply_overhead: the image {IMAGE} or the Docker engine is missing: run "
                 ".ci/docker.sh (as root) first")
    # The floor must not pay for this process's own imports: TensorFlow (which the serving
    # protos pull in) is imported once, here, before anything is timed.
    import_tensorflow()
    import tensorflow_serving.apis.model_service_pb2_grpc  # noqa: F401
    kinds: dict[str, Callable[[Path], dict[str, float]]] = {
        "hot reload, local": lambda w: hot_reload(w, "local"),
        "hot reload, docker": lambda w: hot_reload(w, "docker"),
        "replace, docker": replace,
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    costs = []
    for _ in range(args.rounds):
        for kind, measure in kinds.items():
            with tempfile.TemporaryDirectory() as tmp:
                results[kind].append(measure(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            costs.append(fixed_costs(Path(tmp)))
    rows = []
    for kind, runs in results.items():
        floor, applied = median([r["floor_s"] for r in runs]), median([r["apply_s"] for r in runs])
        rows.append([kind, floor, applied, applied - floor, f"{applied / floor:.1f}x"])
    print(table(["change", "server floor s", "tfsctl apply s", "overhead s", "ratio"], rows))
    fixed = {key: median([c[key] for c in costs]) for key in costs[0]}
    print(f"inside every apply: Python start-up {fixed['startup_s']:.2f} s, a whole `tfsctl plan` "
          f"{fixed['plan_s']:.2f} s, a process importing TensorFlow for the serving protos "
          f"{fixed['protos_s']:.2f} s")
    print(f"(medians of {args.rounds} rounds; the version was already on disk: no export timed)")
    print(f"wrote {save('apply_overhead', {'args': vars(args), 'results': results, 'fixed': costs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
