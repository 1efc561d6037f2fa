#!/usr/bin/env python3
"""`tfsctl serve` under load: REST req/s, p50 and p99 at 1-256 clients, against session.run.

Starts the real server on loopback with TF Serving's half_plus_two (from
../shared, or the repository's own example model), without and with
--enable_batching, and drives its REST predict with `wrk` (a C load
generator, one thread, so that the client is not the bottleneck; Debian's
package `wrk`) at each client count for `--seconds`:
  * keep-alive: each client reuses its connection;
  * close: each request on a new connection (`Connection: close`), the case
    where a short listen backlog drops connections.
Failures are wrk's socket errors (connect, read, write, timeout) plus non-2xx
answers; the target is 0 at every level. gRPC Predict is driven by `h2load`
(Debian's `nghttp2-client`, C) sending one prepared gRPC frame (the official
PredictRequest) on `--grpc-streams` concurrent streams (16 connections); a
stream fails on an HTTP/2 error or a reset, and every answer's grpc-status is
checked once beforehand with the official stub. The same run measures the model's
own speed in this process: `session.run` of the same predict in a loop
(TF Serving's floor), and the table gives each level's req/s as a ratio of it
(target >= 0.5 at the best level). Also: seconds from process start to the
first answered predict. Writes bench/results/serve_predict.json.

    python bench/serve_predict.py [--seconds 10] [--clients 1,16,64,256] [--modes default,batching]
        [--grpc-streams 64,256]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import free_port, save, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/testdata/tensorflow_serving/saved_model_half_plus_two_cpu"
MODEL = SHARED if SHARED.is_dir() else REPO / "examples/models/half_plus_two"
BODY = '{"instances": [[1.0], [2.0], [5.0]]}'
BATCHING = ("max_batch_size { value: 64 } batch_timeout_micros { value: 500 } "
            "num_batch_threads { value: 2 } max_enqueued_batches { value: 1000 }")
MODES = {"default": [], "batching": ["--enable_batching"]}
LUA = """wrk.method = "POST"
wrk.body = '%s'
wrk.headers["Content-Type"] = "application/json"
%s
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def in_process_rate(seconds: float) -> float:
    """Predicts per second of TensorFlow's Session.run on the same model and input, one
    thread, tensors looked up once: the model's own speed, with no server around it."""
    import numpy as np

    from tfsctl.serve.loader import load_version

    version = sorted(p for p in MODEL.iterdir() if p.name.isdigit())[-1]
    loaded = load_version(str(version))
    signature = loaded.signature("")
    graph = loaded.session.graph
    fetch = graph.get_tensor_by_name(signature.outputs["y"].name)
    feed = {graph.get_tensor_by_name(signature.inputs["x"].name):
            np.array([[1.0], [2.0], [5.0]], dtype=np.float32)}
    for _ in range(200):
        loaded.session.run(fetch, feed)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for _ in range(100):
            loaded.session.run(fetch, feed)
        count += 100
    rate = count / (time.perf_counter() - began)
    loaded.close()
    return rate


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, clients: int, seconds: float, script: Path) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s",
                          "--latency", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(g) for g in errors.groups()) if errors else 0) + (
        int(non_2xx.group(1)) if non_2xx else 0)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
            "failed": failed}


def grpc_frame(path: Path) -> Path:
    """The official client's PredictRequest for the same input, as one gRPC message
    (uncompressed flag, 4-byte length, the bytes): what h2load sends on every stream."""
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from tfsctl.tfenv import import_tensorflow

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(import_tensorflow().make_tensor_proto(
        np.array([[1.0], [2.0], [5.0]], dtype=np.float32)))
    message = request.SerializeToString()
    path.write_bytes(b"\0" + len(message).to_bytes(4, "big") + message)
    return path


def check_grpc(port: int) -> None:
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = predict_pb2.PredictRequest.FromString(_FRAME.read_bytes()[5:])
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request,
                                                                                   timeout=60)
        assert list(answer.outputs["y"].float_val) == [2.5, 3.0, 4.5], answer


def h2load(port: int, streams: int, seconds: float) -> dict[str, float]:
    connections = min(16, streams)
    out = subprocess.run(["h2load", f"-c{connections}", f"-m{streams // connections}",
                          f"-D{seconds:g}", "-t1", "-d", str(_FRAME),
                          "-H", "content-type: application/grpc", "-H", "te: trailers",
                          f"http://127.0.0.1:{port}/tensorflow.serving.PredictionService/Predict"],
                         capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+(\S+)", out)
    assert counts and mean, out
    done, succeeded = int(counts.group(1)), int(counts.group(2))
    return {"rps": succeeded / seconds, "p50_ms": _ms(mean.group(1)), "p99_ms": float("nan"),
            "requests": done, "failed": done - succeeded + int(counts.group(4))
            + int(counts.group(5))}


_FRAME = Path(tempfile.gettempdir()) / "tfsctl-bench-predict.grpc"


def start(extra: list[str]) -> tuple[subprocess.Popen, str, float, int]:
    rest, grpc_port = free_port(), free_port()
    began = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1",
                                f"--port={grpc_port}", f"--rest_api_port={rest}",
                                "--model_name=half_plus_two", f"--model_base_path={MODEL}", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{rest}/v1/models/half_plus_two:predict"
    while True:
        try:
            if requests.post(url, data=BODY, timeout=1).status_code == 200:
                return process, url, time.perf_counter() - began, grpc_port
        except requests.RequestException:
            pass
        if process.poll() is not None or time.perf_counter() - began > 180:
            process.kill()
            raise RuntimeError("server did not answer within 180 s")
        time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,16,64,256")
    parser.add_argument("--modes", default="default,batching")
    parser.add_argument("--connections", default="keep-alive,close")
    parser.add_argument("--grpc-streams", default="64,256", help="'' for no gRPC rows")
    args = parser.parse_args()
    for tool, package in (("wrk", "wrk"), ("h2load", "nghttp2-client")):
        if shutil.which(tool) is None:
            print(f"serve_predict: needs `{tool}` (apt-get install {package})", file=sys.stderr)
            return 2
    grpc_frame(_FRAME)
    levels = [int(c) for c in args.clients.split(",")]
    base = in_process_rate(args.seconds)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "batching.txt"
        params.write_text(BATCHING)
        scripts = {kind: Path(tmp) / f"{kind}.lua" for kind in ("keep-alive", "close")}
        scripts["keep-alive"].write_text(LUA % (BODY, ""))
        scripts["close"].write_text(LUA % (BODY, 'wrk.headers["Connection"] = "close"'))
        for mode in args.modes.split(","):
            extra = MODES[mode] + ([f"--batching_parameters_file={params}"] if MODES[mode] else [])
            process, url, first, grpc_port = start(extra)
            try:
                wrk(url, 16, 2, scripts["keep-alive"])  # warm-up, not recorded
                runs = {f"{kind} {clients}": wrk(url, clients, args.seconds, scripts[kind])
                        for kind in args.connections.split(",") for clients in levels}
                if args.grpc_streams:
                    check_grpc(grpc_port)
                    h2load(grpc_port, 16, 2)  # warm-up, not recorded
                    runs.update({f"gRPC {streams}": h2load(grpc_port, streams, args.seconds)
                                 for streams in map(int, args.grpc_streams.split(","))})
            finally:
                process.terminate()
                process.wait(timeout=60)
            results[mode] = {"first_predict_s": first, "levels": runs}
    rows = [[mode, level, r["rps"], r["p50_ms"], r["p99_ms"], r["rps"] / base, r["failed"],
             r["requests"]]
            for mode, result in results.items()
            for level, r in result["levels"].items()]  # type: ignore[attr-defined]
    print(table(["mode", "connections clients", "req/s", "p50 (gRPC: mean) ms", "p99 ms",
                 "x session.run",
                 "failed", "requests"], rows))
    best = max((row for row in rows if not str(row[1]).startswith("gRPC")), key=lambda row: row[2])
    print(f"in-process session.run: {base:.0f}/s (one thread); best REST level: {best[0]} "
          f"{best[1]} at {best[2]:.0f} req/s = {best[5]:.2f}x")
    print("first predict after start: " + ", ".join(
        f"{mode} {r['first_predict_s']:.1f} s" for mode, r in results.items()))
    print(f"({args.seconds:g} s per level with wrk -t1; batching: {BATCHING}; model {MODEL})")
    saved = save("serve_predict", {"args": vars(args), "session_run_per_s": base, "results": results})
    print(f"wrote {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
