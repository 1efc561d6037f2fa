#!/usr/bin/env python3
"""A version rollout under load: `tfsctl apply` against the classic manual way.

A steady stream of predicts (bounded: at most --seconds, about --rate per
second, loopback only) runs while version 2 of half_plus_two is rolled out
and the `stable` label moved onto it, by
  (a) `tfsctl apply`: a hot reload on each runtime, and a replace (a container
      setting changed as well) on docker,
  (b) the manual way: rewrite model.config and `docker restart` the container,
  (c) `docker-compose up -d` of an equivalent compose file whose service changed
      (Debian's docker-compose; the row is skipped, with a message, without it).
For each: failed requests, the longest gap without a successful answer, and
seconds until version 2 answers. Needs the Docker engine and the
tfsctl/serve:dev image (scripts/build_image.sh). Writes bench/results/rollout.json.

    python bench/rollout.py [--rounds 3] [--rate 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import median, save, table  # noqa: E402
from bench.serve_predict import free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples/models/half_plus_two/1"
IMAGE = os.environ.get("TFSCTL_BENCH_IMAGE", "tfsctl/serve:dev")


class Stream:
    """Predicts at a steady rate on a background thread; records failures and gaps."""

    def __init__(self, url: str, rate: float, limit_s: float):
        self.url, self.interval, self.limit = url, 1.0 / rate, limit_s
        self.ok: list[float] = []
        self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = json.dumps({"instances": [1.0, 2.0, 5.0]})
        end = time.monotonic() + self.limit
        with requests.Session() as session:
            while not self.stop.is_set() and time.monotonic() < end:
                t = time.monotonic()
                try:
                    good = session.post(self.url, data=body, timeout=2).status_code == 200
                except requests.RequestException:
                    good = False
                if good:
                    self.ok.append(time.monotonic())
                else:
                    self.failed += 1
                time.sleep(max(0.0, self.interval - (time.monotonic() - t)))

    def finish(self, new_version_s: float) -> dict[str, float]:
        """Let the stream run a second more, stop it, and report."""
        time.sleep(1)
        self.stop.set()
        self.thread.join()
        return {"failed": self.failed, "longest_gap_s": self.longest_gap(),
                "new_version_s": new_version_s, "ok": len(self.ok)}

    def longest_gap(self) -> float:
        times = self.ok
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def wait_for_version(rest: int, version: int, start: float, timeout: float = 120) -> float:
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two/versions/{version}:predict"
    while time.monotonic() - start < timeout:
        try:
            if requests.post(url, json={"instances": [1.0]}, timeout=1).status_code == 200:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"version {version} never answered")


def tfsctl(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tfsctl.cli.main", *args], check=True,
                   capture_output=True, env={**os.environ, "NO_COLOR": "1"}, timeout=600)


def by_apply(work: Path, rate: float, limit: float, runtime: str = "docker",
             replace: bool = False) -> dict[str, float]:
    """`tfsctl apply`: a hot reload, or (replace=True) a container setting changed too."""
    rest, grpc = free_port(), free_port()
    spec = work / "tfsctl.yaml"

    def write(versions: list[int], stable: int, rollout: str) -> None:
        server = {"name": f"bench-apply-{os.getpid()}", "runtime": runtime,
                  "model_root": "models", "ports": {"grpc": grpc, "rest": rest},
                  "env": {"ROLLOUT": rollout},
                  "models": [{"name": "half_plus_two", "policy": {"specific": versions},
                              "versions": {v: {"source": {"saved_model": str(MODEL)}}
                                           for v in versions},
                              "labels": {"stable": stable}}]}
        if runtime == "docker":
            server["image"] = IMAGE
        spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [server]}))

    write([1], 1, "a")
    tfsctl("apply", "-f", str(spec), "--auto-approve")
    try:
        stream = Stream(f"http://127.0.0.1:{rest}/v1/models/half_plus_two/labels/stable:predict",
                        rate, limit)
        stream.thread.start()
        time.sleep(1)
        write([1, 2], 2, "b" if replace else "a")
        start = time.monotonic()
        tfsctl("apply", "-f", str(spec), "--auto-approve")
        return stream.finish(wait_for_version(rest, 2, start))
    finally:
        tfsctl("destroy", "-f", str(spec), "--auto-approve")


def _write_model_config(config: Path, versions: list[int], stable: int) -> None:
    """model.config as a team writes it by hand for the classic ways."""
    policy = "".join(f"versions: {v} " for v in versions)
    config.write_text(f'model_config_list {{ config {{ name: "half_plus_two" '
                      f'base_path: "/models/half_plus_two" model_platform: "tensorflow" '
                      f"model_version_policy {{ specific {{ {policy}}} }} "
                      f'version_labels {{ key: "stable" value: {stable} }} }} }}')


def by_compose(work: Path, rate: float, limit: float) -> dict[str, float]:
    """docker-compose: copy the version, rewrite model.config, change the service, `up -d`."""
    rest = free_port()
    root = work / "models"
    shutil.copytree(MODEL, root / "half_plus_two" / "1")
    _write_model_config(root / "model.config", [1], 1)
    project = f"benchcompose{os.getpid()}"
    compose = work / "docker-compose.yml"

    def write_compose(rollout: str) -> None:
        compose.write_text(yaml.safe_dump({"version": "3", "services": {"serving": {
            "image": IMAGE, "ports": [f"127.0.0.1:{rest}:8501"],
            "volumes": [f"{root}:/models:ro"], "environment": {"ROLLOUT": rollout},
            "command": ["--model_config_file=/models/model.config",
                        "--allow_version_labels_for_unavailable_models=true"]}}}))

    def compose_cmd(*args: str) -> None:
        subprocess.run(["docker-compose", "-p", project, "-f", str(compose), *args], check=True,
                       capture_output=True, timeout=300)

    write_compose("a")
    compose_cmd("up", "-d")
    try:
        wait_for_version(rest, 1, time.monotonic())
        stream = Stream(f"http://127.0.0.1:{rest}/v1/models/half_plus_two/labels/stable:predict",
                        rate, limit)
        stream.thread.start()
        time.sleep(1)
        start = time.monotonic()
        shutil.copytree(MODEL, root / "half_plus_two" / "2")
        _write_model_config(root / "model.config", [1, 2], 2)
        write_compose("b")
        compose_cmd("up", "-d")
        return stream.finish(wait_for_version(rest, 2, start))
    finally:
        compose_cmd("down", "-t", "2")


def by_hand(work: Path, rate: float, limit: float) -> dict[str, float]:
    """The classic way: copy the version, rewrite model.config, `docker restart`."""
    rest = free_port()
    root = work / "manual"
    shutil.copytree(MODEL, root / "half_plus_two" / "1")
    config = root / "model.config"
    _write_model_config(config, [1], 1)
    name = f"bench-manual-{os.getpid()}"
    subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{rest}:8501",
                    "-v", f"{root}:/models:ro", IMAGE, "--model_config_file=/models/model.config",
                    "--allow_version_labels_for_unavailable_models=true"],
                   check=True, capture_output=True)
    try:
        wait_for_version(rest, 1, time.monotonic())
        stream = Stream(f"http://127.0.0.1:{rest}/v1/models/half_plus_two/labels/stable:predict",
                        rate, limit)
        stream.thread.start()
        time.sleep(1)
        start = time.monotonic()
        shutil.copytree(MODEL, root / "half_plus_two" / "2")
        _write_model_config(config, [1, 2], 2)
        subprocess.run(["docker", "restart", "-t", "10", name], check=True, capture_output=True)
        return stream.finish(wait_for_version(rest, 2, start))
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


WAYS: dict[str, Callable[[Path, float, float], dict[str, float]]] = {
    "tfsctl apply, local (reload)": partial(by_apply, runtime="local"),
    "tfsctl apply, docker (reload)": partial(by_apply, runtime="docker"),
    "tfsctl apply, docker (replace)": partial(by_apply, runtime="docker", replace=True),
    "manual: model.config + docker restart": by_hand,
    "docker-compose up (recreate)": by_compose,
}


def _check_prerequisites(ways: list[str]) -> list[str]:
    """Say what is missing in words, not a traceback; drop only the compose row if need be."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        sys.exit(f"rollout: the image {IMAGE} or the Docker engine is missing: run .ci/docker.sh "
                 "(as root) first")
    if shutil.which("docker-compose") is None:
        print("rollout: docker-compose not installed (apt-get install docker-compose): "
              "skipping its row", file=sys.stderr)
        ways = [w for w in ways if not w.startswith("docker-compose")]
    return ways


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="cap on each load stream")
    args = parser.parse_args()
    ways = _check_prerequisites(list(WAYS))
    results: dict[str, list[dict[str, float]]] = {way: [] for way in ways}
    for _ in range(args.rounds):  # round-robin: every way sees the same machine noise
        for way in ways:
            with tempfile.TemporaryDirectory() as tmp:
                results[way].append(WAYS[way](Path(tmp), args.rate, args.seconds))
    manual = median([r["longest_gap_s"] for r in results["manual: model.config + docker restart"]])
    rows = []
    for way, runs in results.items():
        gap = median([r["longest_gap_s"] for r in runs])
        rows.append([way, median([r["failed"] for r in runs]), gap,
                     f"{gap / manual:.2f}" if manual else "-",
                     median([r["new_version_s"] for r in runs])])
    print(table(["rollout", "failed requests", "longest gap s", "gap vs manual",
                 "new version answers s"], rows))
    print(f"(medians of {args.rounds} rounds; {args.rate:.0f} predicts/s on loopback to the "
          "`stable` label, which each rollout moves to version 2)")
    print(f"wrote {save('rollout', {'args': vars(args), 'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
