#!/usr/bin/env python3
"""What the gateway's HTTP hop costs: the NER example through the gateway vs the same
handler called in-process with direct gRPC to the models.

Deploys examples/ner on the local runtime (a `tfsctl serve` process and the gateway),
then at 1, 16 and 64 clients, for `--rounds` rounds of `--seconds` each (the two ways in
turn, rotated):

  gateway  wrk (-t1, keep-alive, a Lua POST body) against POST /v1/gateways/ner-api:predict
  direct   this process, asyncio: N workers each running preprocess -> the gateway's own
           gRPC client (one channel, every model concurrently) -> postprocess

and reports req/s, p50 and p99 (medians of the rounds), failures, the p50 overhead of
the hop (gateway - direct) and the req/s ratio gateway/direct. Targets: 0 failures,
p50 overhead <= 2 ms, req/s >= 0.5x direct. Results: bench/results/gateway.json.

    python bench/gateway.py [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    REPO,
    BenchError,
    free_port,
    median,
    medians,
    rotated,
    run_main,
    save,
    table,
    tfsctl,
)
from bench.serve_predict import LUA, wrk  # noqa: E402

EXAMPLE = REPO / "examples" / "ner"
TEXT = "张三在北京的清华大学工作，李四从上海去人民银行"
CLIENTS = (1, 16, 64)


def deploy(work: Path) -> tuple[Path, int, int]:
    """The example on free ports; its spec, gRPC port and gateway port."""
    shutil.copytree(EXAMPLE / "handlers", work / "handlers")
    subprocess.run([sys.executable, str(EXAMPLE / "make_checkpoints.py"), str(work / "checkpoints")],
                   check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    spec = yaml.safe_load((EXAMPLE / "ner.yaml").read_text(encoding="utf-8"))
    grpc, gateway = free_port(), free_port()
    spec["servers"][0].update(model_root="models", name=f"bench-ner{os.getpid()}",
                              ports={"grpc": grpc, "rest": free_port()})
    spec["gateways"][0].update(server=spec["servers"][0]["name"], port=gateway)
    (work / "ner.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    tfsctl("apply", "-f", str(work / "ner.yaml"), "--auto-approve")
    return work / "ner.yaml", grpc, gateway


async def _direct(handler_file: Path, grpc: int, clients: int, seconds: float) -> dict[str, float]:
    from tfsctl.gateway.client import ModelClient
    from tfsctl.gateway.handler import load_handler

    handler = load_handler(handler_file)
    client = ModelClient(f"127.0.0.1:{grpc}", 30.0)
    payload = {"text": TEXT}
    latencies: list[float] = []
    failed = 0

    async def one() -> None:
        outputs = await client.predict_all(handler.preprocess(payload), handler.targets)
        json.dumps(handler.postprocess(payload, outputs))

    for _ in range(50):
        await one()
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal failed
        while time.monotonic() < stop:
            began = time.perf_counter()
            try:
                await one()
            except Exception:  # noqa: BLE001 - counted, as wrk counts its errors
                failed += 1
            latencies.append((time.perf_counter() - began) * 1e3)

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.monotonic() - began
    await client.close()
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[int(len(latencies) * 0.99)], "requests": len(latencies),
            "failed": failed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise BenchError("needs `wrk` (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        spec, grpc, port = deploy(work)
        try:
            url = f"http://127.0.0.1:{port}/v1/gateways/ner-api:predict"
            script = work / "post.lua"
            script.write_text(LUA % (json.dumps({"text": TEXT}, ensure_ascii=False), ""),
                              encoding="utf-8")
            wrk(url, 16, 2, script)  # warm-up, not recorded
            runs: dict[str, list[dict[str, Any]]] = {}
            for index in range(args.rounds):
                for clients in CLIENTS:
                    for way in rotated(["gateway", "direct"], index):
                        result = wrk(url, clients, args.seconds, script) if way == "gateway" \
                            else asyncio.run(_direct(work / "handlers" / "ner.py", grpc,
                                                     clients, args.seconds))
                        runs.setdefault(f"{way} {clients}", []).append(result)
        finally:
            tfsctl("destroy", "-f", str(spec), "--auto-approve")
    summary = {key: medians(value) for key, value in runs.items()}
    rows, verdict = [], {}
    for clients in CLIENTS:
        hop, base = summary[f"gateway {clients}"], summary[f"direct {clients}"]
        overhead = hop["p50_ms"] - base["p50_ms"]
        share = hop["rps"] / base["rps"]
        failures = sum(r["failed"] for way in ("gateway", "direct") for r in runs[f"{way} {clients}"])
        verdict[clients] = {"p50_overhead_ms": overhead, "rps_ratio": share, "failures": failures,
                            "ok": failures == 0 and overhead <= 2.0 and share >= 0.5}
        for way, row in (("gateway", hop), ("direct", base)):
            rows.append((f"{way} {clients}", row["rps"], row["p50_ms"], row["p99_ms"],
                         int(row["failed"]), f"{overhead:+.2f}" if way == "gateway" else "",
                         f"{share:.2f}x" if way == "gateway" else ""))
    print(table(["way, clients", "req/s", "p50 ms", "p99 ms", "failed", "p50 hop ms",
                 "req/s vs direct"], rows))
    print(f"(medians of {args.rounds} rounds of {args.seconds:g}s; wrk -t1 keep-alive; "
          f"median p50 overhead {median([v['p50_overhead_ms'] for v in verdict.values()]):.2f} ms)")
    print("results:", save("gateway", {"runs": runs, "medians": summary, "verdict": verdict}))
    return 0 if all(v["ok"] for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main("gateway", main))
