#!/usr/bin/env python3
"""`tfsctl serve` on large predicts: the server's peak memory growth per request body byte,
and the answer's time against session.run on the same tensor.

Starts the real server with half_plus_two and, for 1M, 4M and 16M float values, sends one
predict at a time: REST JSON (`{"instances": [...]}`, values such as `2.5`, about 4 bytes
each) and gRPC (the official client's PredictRequest from tf.make_tensor_proto). Each
measured request goes to a fresh server, after one small predict (memory the allocator
kept from an earlier large request would hide the next one's growth): its peak RSS is
reset (`/proc/PID/clear_refs`, 5), and after the answer the growth is VmHWM minus the RSS
before. Answer times are the client's (serialising the request included). The floor,
measured in this process in the same run, is the loaded model's own session step on the
same tensor. Targets (issue 24): growth
at most 8x the body for REST JSON and 3x for gRPC, the answer within 10x the floor.
Medians of `--rounds` rounds. Writes bench/results/serve_memory.json.

    python bench/serve_memory.py [--rounds 3] [--sizes 1000000,4000000,16000000] [--apis REST,gRPC]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import free_port, save, table  # noqa: E402
from bench.serve_predict import MODEL  # noqa: E402

TARGETS = {"REST": 8.0, "gRPC": 3.0}
TIME_TARGET = 10.0


def _kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} for {pid}")


def _version_dir() -> str:
    return str(sorted(p for p in MODEL.iterdir() if p.name.isdigit())[-1])


def floor_seconds(values: Any, rounds: int) -> float:
    """The model's own work: its session step on the same tensor, in this process."""
    from tfsctl.serve.loader import load_version

    loaded = load_version(_version_dir())
    signature = loaded.signature("")
    loaded.run(signature, {"x": values}, ["y"])
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        loaded.run(signature, {"x": values}, ["y"])
        times.append(time.perf_counter() - began)
    loaded.close()
    return statistics.median(times)


def start() -> tuple[subprocess.Popen, int, int]:
    rest, grpc_port = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1",
                                f"--port={grpc_port}", f"--rest_api_port={rest}",
                                "--model_name=m", f"--model_base_path={MODEL}",
                                f"--max_request_bytes={1 << 30}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{rest}/v1/models/m", timeout=1).ok:
                return process, rest, grpc_port
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start within 180 s")


def measure(pid: int, send: Any) -> tuple[float, float]:
    """(peak growth in MB, seconds) of one request."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _kb(pid, "VmRSS")
    began = time.perf_counter()
    send()
    seconds = time.perf_counter() - began
    return (_kb(pid, "VmHWM") - before) / 1024, seconds


def _rest(url: str, body: bytes) -> None:
    answer = requests.post(url, data=body, timeout=600)
    assert answer.status_code == 200, answer.text[:300]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1000000,4000000,16000000")
    parser.add_argument("--apis", default="REST,gRPC", help="which of REST and gRPC to measure")
    args = parser.parse_args()
    apis = set(args.apis.split(","))
    import grpc
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfsctl.tfenv import import_tensorflow

    tf = import_tensorflow()
    rows, results = [], {}
    for size in (int(s) for s in args.sizes.split(",")):
        values = np.resize(np.array([2.5, 1.0, 3.5, 0.5], dtype=np.float32), size)
        floor = floor_seconds(values, args.rounds)
        body = ('{"instances": [' + ", ".join(["2.5", "1.0", "3.5", "0.5"] * (size // 4))
                + "]}").encode()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "m"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(values))
        small = predict_pb2.PredictRequest()
        small.model_spec.name = "m"
        small.inputs["x"].CopyFrom(tf.make_tensor_proto(values[:4]))
        for api, sent in (("REST", len(body)), ("gRPC", request.ByteSize())):
            if api not in apis:
                continue
            runs = []
            for _ in range(args.rounds):
                process, rest, grpc_port = start()
                channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[
                    ("grpc.max_receive_message_length", -1),
                    ("grpc.max_send_message_length", -1)])
                stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                url = f"http://127.0.0.1:{rest}/v1/models/m:predict"
                try:
                    if api == "REST":
                        requests.post(url, data=b'{"instances": [1.0]}', timeout=60)
                        runs.append(measure(process.pid, functools.partial(_rest, url, body)))
                    else:
                        stub.Predict(small, timeout=60)
                        runs.append(measure(process.pid, functools.partial(
                            stub.Predict, request, timeout=600)))
                finally:
                    channel.close()
                    process.terminate()
                    process.wait(timeout=120)
            growth = statistics.median(r[0] for r in runs)
            seconds = statistics.median(r[1] for r in runs)
            ratio = growth / (sent / 2 ** 20)
            results[f"{api} {size}"] = {"body_mb": sent / 2 ** 20, "growth_mb": growth,
                                        "growth_x_body": ratio, "seconds": seconds,
                                        "floor_s": floor, "x_floor": seconds / floor}
            rows.append([api, size, sent / 2 ** 20, growth, f"{ratio:.2f}x",
                         f"{TARGETS[api]:.0f}x", seconds, floor, f"{seconds / floor:.1f}x"])
    print(table(["api", "values", "body MB", "peak growth MB", "growth/body", "target",
                 "answer s", "session.run s", "x floor"], rows))
    print(f"(medians of {args.rounds} rounds; floor: the model's session step in this process; "
          f"time target {TIME_TARGET:.0f}x)")
    saved = save("serve_memory", {"args": vars(args), "results": results})
    print(f"wrote {saved}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
