#!/usr/bin/env python3
"""`tfsctl serve`: seconds from start to the first answered predict, then REST throughput.

Starts the real server on loopback with TF Serving's half_plus_two (from
../shared, or the repository's own example model), several rounds, without
and with --enable_batching:
  * start-up: process start -> first successful predict;
  * throughput: a bounded number of predicts from a few client threads (one
    keep-alive connection each), with median and p99 latency.
Prints medians and writes bench/results/serve_predict.json.

    python bench/serve_predict.py [--rounds 3] [--requests 2000] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import free_port, median, save, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/testdata/tensorflow_serving/saved_model_half_plus_two_cpu"
MODEL = SHARED if SHARED.is_dir() else REPO / "examples/models/half_plus_two"
BODY = json.dumps({"instances": [1.0, 2.0, 5.0]})
BATCHING = "max_batch_size { value: 64 } batch_timeout_micros { value: 500 } num_batch_threads { value: 4 }"
MODES = {"default": [], "batching": ["--enable_batching"]}


def one_round(requests_total: int, threads: int, extra: list[str]) -> dict[str, float]:
    rest = free_port()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1",
                                f"--port={free_port()}", f"--rest_api_port={rest}",
                                "--model_name=half_plus_two", f"--model_base_path={MODEL}", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two:predict"
    try:
        while True:
            try:
                if requests.post(url, data=BODY, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.perf_counter() - start > 120:
                raise RuntimeError("server did not answer within 120 s")
            time.sleep(0.02)
        first = time.perf_counter() - start

        def worker(count: int) -> tuple[list[float], int]:
            latencies, errors = [], 0
            with requests.Session() as session:
                for _ in range(count):
                    t = time.perf_counter()
                    ok = session.post(url, data=BODY, timeout=10).status_code == 200
                    latencies.append(time.perf_counter() - t)
                    errors += not ok
            return latencies, errors

        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(worker, [requests_total // threads] * threads))
        elapsed = time.perf_counter() - began
        latencies = [t for per_thread, _ in results for t in per_thread]
        errors = sum(e for _, e in results)
    finally:
        process.terminate()
        process.wait(timeout=30)
    latencies.sort()
    return {"first_predict_s": first, "rps": len(latencies) / elapsed,
            "median_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000, "errors": errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as params:
        params.write(BATCHING)
        params.flush()
        runs = {mode: [one_round(args.requests, args.threads,
                                 extra + ([f"--batching_parameters_file={params.name}"]
                                          if extra else []))
                       for _ in range(args.rounds)] for mode, extra in MODES.items()}
    med = {mode: {k: median([r[k] for r in rs]) for k in rs[0]} for mode, rs in runs.items()}
    print(table(["mode", "first predict s", "req/s", "median ms", "p99 ms", "errors"],
                [[mode, m["first_predict_s"], m["rps"], m["median_ms"], m["p99_ms"],
                  int(sum(r["errors"] for r in runs[mode]))] for mode, m in med.items()]))
    print(f"({args.rounds} rounds per mode, {args.requests} requests from {args.threads} threads "
          f"each; batching: {BATCHING}; model {MODEL})")
    print(f"wrote {save('serve_predict', {'args': vars(args), 'median': med, 'runs': runs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
