#!/usr/bin/env python3
"""A version rollout under load: `tfsctl apply` against the classic manual way.

A steady stream of predicts (bounded: at most --seconds, about --rate per
second, loopback only) runs while version 2 of half_plus_two is rolled out
and the `stable` label moved onto it, by
  (a) `tfsctl apply` (hot reload over gRPC; docker runtime),
  (b) the manual way: rewrite model.config and `docker restart` the container.
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


def by_apply(work: Path, rate: float, limit: float) -> dict[str, float]:
    rest, grpc = free_port(), free_port()
    spec = work / "tfsctl.yaml"

    def write(versions: list[int], stable: int) -> None:
        spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [{
            "name": f"bench-apply-{os.getpid()}", "runtime": "docker", "image": IMAGE,
            "model_root": "models", "ports": {"grpc": grpc, "rest": rest},
            "models": [{"name": "half_plus_two", "policy": {"specific": versions},
                        "versions": {v: {"source": {"saved_model": str(MODEL)}} for v in versions},
                        "labels": {"stable": stable}}]}]}))

    write([1], 1)
    tfsctl("apply", "-f", str(spec), "--auto-approve")
    try:
        stream = Stream(f"http://127.0.0.1:{rest}/v1/models/half_plus_two/labels/stable:predict",
                        rate, limit)
        stream.thread.start()
        time.sleep(1)
        write([1, 2], 2)
        start = time.monotonic()
        tfsctl("apply", "-f", str(spec), "--auto-approve")
        seconds = wait_for_version(rest, 2, start)
        time.sleep(1)
        stream.stop.set()
        stream.thread.join()
        return {"failed": stream.failed, "longest_gap_s": stream.longest_gap(),
                "new_version_s": seconds, "ok": len(stream.ok)}
    finally:
        tfsctl("destroy", "-f", str(spec), "--auto-approve")


def by_hand(work: Path, rate: float, limit: float) -> dict[str, float]:
    rest = free_port()
    root = work / "manual"
    shutil.copytree(MODEL, root / "half_plus_two" / "1")
    config = root / "model.config"

    def write(versions: list[int], stable: int) -> None:
        policy = "".join(f"versions: {v} " for v in versions)
        config.write_text(f'model_config_list {{ config {{ name: "half_plus_two" '
                          f'base_path: "/models/half_plus_two" model_platform: "tensorflow" '
                          f"model_version_policy {{ specific {{ {policy}}} }} "
                          f'version_labels {{ key: "stable" value: {stable} }} }} }}')

    write([1], 1)
    name = f"bench-manual-{os.getpid()}"
    subprocess.run(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{rest}:8501",
                    "-v", f"{root}:/models:ro", IMAGE, "--model_config_file=/models/model.config"],
                   check=True, capture_output=True)
    try:
        wait_for_version(rest, 1, time.monotonic())
        stream = Stream(f"http://127.0.0.1:{rest}/v1/models/half_plus_two/labels/stable:predict",
                        rate, limit)
        stream.thread.start()
        time.sleep(1)
        start = time.monotonic()
        shutil.copytree(MODEL, root / "half_plus_two" / "2")
        write([1, 2], 2)
        subprocess.run(["docker", "restart", "-t", "10", name], check=True, capture_output=True)
        seconds = wait_for_version(rest, 2, start)
        time.sleep(1)
        stream.stop.set()
        stream.thread.join()
        return {"failed": stream.failed, "longest_gap_s": stream.longest_gap(),
                "new_version_s": seconds, "ok": len(stream.ok)}
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="cap on each load stream")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"tfsctl apply": [], "manual restart": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            results["tfsctl apply"].append(by_apply(Path(tmp), args.rate, args.seconds))
        with tempfile.TemporaryDirectory() as tmp:
            results["manual restart"].append(by_hand(Path(tmp), args.rate, args.seconds))
    rows = []
    for way, runs in results.items():
        rows.append([way, median([r["failed"] for r in runs]),
                     median([r["longest_gap_s"] for r in runs]),
                     median([r["new_version_s"] for r in runs])])
    print(table(["rollout", "failed requests", "longest gap s", "new version answers s"], rows))
    print(f"(medians of {args.rounds} rounds; {args.rate:.0f} predicts/s on loopback)")
    print(f"wrote {save('rollout', {'args': vars(args), 'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
