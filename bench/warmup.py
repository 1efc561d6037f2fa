#!/usr/bin/env python3
"""First-request latency after a rollout, with and without a warmup file.

One `tfsctl serve` (policy latest 1) with TF Serving's half_plus_two; each
round rolls out a new version (a copy of the model, with or without
`assets.extra/tf_serving_warmup_requests` written by tfsctl's export code
from two predict bodies), waits until the status API says it is AVAILABLE,
then times the first REST predict on it and the next ones (their median is
the steady state). Rounds alternate between the two kinds. Also reports how
much longer the load takes with warmup (rollout start -> AVAILABLE).
Writes bench/results/warmup.json.

    python bench/warmup.py [--rounds 7] [--after 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import free_port, save, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared/testdata/tensorflow_serving/saved_model_half_plus_two_cpu/00000123"
BODY = {"instances": [1.0, 2.0, 5.0]}
WARMUP = [BODY, {"inputs": {"x": [[1.0], [2.0]]}}]


def _warmup_records() -> list[bytes]:
    from tfsctl.export.exporters import load_signature_defs
    from tfsctl.export.warmup import warmup_records

    return warmup_records(WARMUP, load_signature_defs(SHARED))


def _roll_out(base: Path, version: int, records: list[bytes] | None) -> None:
    from tfsctl.export.warmup import write_warmup

    staging = base / f".staging-{version}"
    shutil.copytree(SHARED, staging)
    if records is not None:
        write_warmup(staging, records)
    staging.rename(base / str(version))  # the server sees the version whole


def _available(url: str, version: int) -> bool:
    try:
        status = requests.get(f"{url}/versions/{version}", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return any(s.get("state") == "AVAILABLE" for s in status.get("model_version_status", []))


def _timed_predict(session: requests.Session, url: str) -> float:
    began = time.perf_counter()
    response = session.post(url, json=BODY, timeout=60)
    elapsed = time.perf_counter() - began
    if response.status_code != 200:
        raise RuntimeError(f"predict failed: {response.status_code} {response.text[:200]}")
    return elapsed * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="rollouts per kind")
    parser.add_argument("--after", type=int, default=20, help="requests timed after the first")
    args = parser.parse_args()
    records = _warmup_records()
    runs: dict[str, list[dict[str, float]]] = {"without warmup": [], "with warmup": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "hpt"
        base.mkdir()
        _roll_out(base, 1, None)
        rest = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "tfsctl.serve", "--host=127.0.0.1", f"--port={free_port()}",
             f"--rest_api_port={rest}", "--model_name=hpt", f"--model_base_path={base}",
             "--file_system_poll_wait_seconds=1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{rest}/v1/models/hpt"
        try:
            deadline = time.monotonic() + 180
            while not _available(url, 1):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not come up")
                time.sleep(0.05)
            version = 1
            for index in range(args.rounds * 2):
                kind = list(runs)[index % 2]
                version += 1
                began = time.perf_counter()
                _roll_out(base, version, records if kind == "with warmup" else None)
                while not _available(url, version):
                    time.sleep(0.005)
                load_s = time.perf_counter() - began
                with requests.Session() as session:
                    session.get(url, timeout=60)  # opens the connection, not timed
                    predict = f"{url}/versions/{version}:predict"
                    first = _timed_predict(session, predict)
                    after = [_timed_predict(session, predict) for _ in range(args.after)]
                runs[kind].append({"first_ms": first, "steady_ms": statistics.median(after),
                                   "rollout_to_available_s": load_s})
        finally:
            process.terminate()
            process.wait(timeout=60)
    medians = {kind: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
               for kind, rs in runs.items()}
    print(table(["rollout", "first request ms", "steady ms", "first / steady",
                 "rollout -> AVAILABLE s"],
                [[kind, m["first_ms"], m["steady_ms"], m["first_ms"] / m["steady_ms"],
                  m["rollout_to_available_s"]] for kind, m in medians.items()]))
    print(f"(medians of {args.rounds} rollouts per kind; steady = median of the {args.after} "
          f"requests after the first; model {SHARED}; file poll every 1 s)")
    print(f"wrote {save('warmup', {'args': vars(args), 'median': medians, 'runs': runs})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
