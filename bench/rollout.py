#!/usr/bin/env python3
"""A version rollout under load: `tfsctl apply` against the ways teams do it without tfsctl.

A steady stream of predicts to the `stable` label (bounded: one at a time, about
--rate a second, at most --seconds, loopback only) runs while version 2 of
half_plus_two is rolled out and `stable` moved onto it, by
  * `tfsctl apply` of the changed spec: a hot reload on the local runtime and on
    docker, and a replace on docker (batching switched on in the same change, so
    the container must be recreated); on swarm (2 replicas behind HAProxy) both
    changes are rolling updates;
  * the manual way: copy the version in, rewrite model.config, `docker restart`;
  * docker-compose: the same, plus a changed service in docker-compose.yml (an
    environment variable, as a team bumps a version tag), then `docker-compose up -d`,
    which recreates the container.
For each: failed requests (by kind), the longest gap without an answer, and the
seconds until version 2 answers; medians over --rounds, the ways round-robin
inside each round (same machine noise), ratios to the manual way. Exits 1 if a
hot reload or a swarm rollout by tfsctl lost a request.

Needs the Docker engine, the tfsctl/serve:dev image and docker-compose: run
.ci/docker.sh (as root) once after ./scripts/setup.sh; the swarm rows need the
engine to be a swarm manager (scripts/swarm.sh init); the script says so and
exits when something is missing. Writes bench/results/rollout.json.

    .venv/bin/python bench/rollout.py [--rounds 3] [--rate 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (  # noqa: E402
    IMAGE,
    SERVING_ARGS,
    SpecServer,
    Stream,
    add_version,
    docker_rm,
    docker_run_serving,
    free_port,
    label_url,
    median,
    model_config_text,
    ratio,
    require_docker,
    rotated,
    run,
    run_main,
    save,
    table,
    wait_for_version,
)

MANUAL = "manual: model.config + docker restart"


@dataclass(frozen=True)
class Load:
    rate: float
    seconds: float


def under_load(rest: int, load: Load, rollout: Callable[[], None]) -> dict[str, Any]:
    """Run `rollout` inside a predict stream to `stable`; the figures of that one rollout.

    The stream runs a second before (a baseline of answers) and a second after
    version 2 answers (so a late failure is still counted).
    """
    with Stream(label_url(rest, "stable"), load.rate, load.seconds) as stream:
        time.sleep(1)
        start = time.monotonic()
        rollout()
        new_version_s = wait_for_version(rest, 2, start)
        time.sleep(1)
    return {**stream.report(), "new_version_s": new_version_s}


def by_apply(work: Path, load: Load, runtime: str, replace: bool = False,
             replicas: int = 1) -> dict[str, Any]:
    """`tfsctl apply` of the spec with version 2 (exported by apply) and `stable: 2`."""
    server = SpecServer(work, runtime, f"bench-rollout-{os.getpid()}", replicas=replicas)
    with server.deployed([1], stable=1):

        def rollout() -> None:
            server.write([1, 2], stable=2, batching=replace)
            server.apply()

        return under_load(server.rest, load, rollout)


def _start_by_hand(root: Path) -> None:
    """Version 1 on disk and the model.config a team writes for it."""
    add_version(root, 1)
    (root / "model.config").write_text(model_config_text("/models/half_plus_two", [1], 1))


def _roll_by_hand(root: Path) -> None:
    """The files of the classic rollout: version 2 in, model.config pointing at it."""
    add_version(root, 2)
    (root / "model.config").write_text(model_config_text("/models/half_plus_two", [1, 2], 2))


def by_hand(work: Path, load: Load) -> dict[str, Any]:
    """The classic way: copy the version, rewrite model.config, `docker restart`."""
    root, rest, name = work / "models", free_port(), f"bench-manual-{os.getpid()}"
    _start_by_hand(root)
    try:
        docker_run_serving(name, root, rest)
        wait_for_version(rest, 1, time.monotonic())

        def rollout() -> None:
            _roll_by_hand(root)
            run(["docker", "restart", "-t", "10", name])

        return under_load(rest, load, rollout)
    finally:
        docker_rm(name)


def _compose_file(root: Path, rest: int, grpc: int, rollout: str) -> str:
    """docker-compose.yml equivalent to the spec: same image, ports on loopback, /models
    read-only; ROLLOUT is what a team changes so that compose recreates the service."""
    return yaml.safe_dump({"version": "3", "services": {"serving": {
        "image": IMAGE, "ports": [f"127.0.0.1:{rest}:8501", f"127.0.0.1:{grpc}:8500"],
        "volumes": [f"{root}:/models:ro"], "environment": {"ROLLOUT": rollout},
        "command": SERVING_ARGS}}})


def by_compose(work: Path, load: Load) -> dict[str, Any]:
    """docker-compose: the classic files, a changed service, `docker-compose up -d`."""
    root, rest, grpc = work / "models", free_port(), free_port()
    compose_file = work / "docker-compose.yml"
    compose = ["docker-compose", "-p", f"tfsctlbench{os.getpid()}x{time.monotonic_ns()}",
               "-f", str(compose_file)]
    _start_by_hand(root)
    compose_file.write_text(_compose_file(root, rest, grpc, "v1"))
    try:
        run([*compose, "up", "-d"])
        wait_for_version(rest, 1, time.monotonic())

        def rollout() -> None:
            _roll_by_hand(root)
            compose_file.write_text(_compose_file(root, rest, grpc, "v2"))
            run([*compose, "up", "-d"])

        return under_load(rest, load, rollout)
    finally:
        subprocess.run([*compose, "down", "-t", "2"], capture_output=True, check=False)


WAYS: dict[str, Callable[[Path, Load], dict[str, Any]]] = {
    "tfsctl apply, local (hot reload)": partial(by_apply, runtime="local"),
    "tfsctl apply, docker (hot reload)": partial(by_apply, runtime="docker"),
    "tfsctl apply, docker (replace)": partial(by_apply, runtime="docker", replace=True),
    "tfsctl apply, swarm x2 (rolling)": partial(by_apply, runtime="swarm", replicas=2),
    "tfsctl apply, swarm x2 (rolling replace)": partial(by_apply, runtime="swarm", replace=True,
                                                       replicas=2),
    MANUAL: by_hand,
    "docker-compose up -d (recreate)": by_compose,
}


def _ways_available() -> list[str]:
    """Every way, or exit saying what to install (the Docker ones are the point of comparison)."""
    require_docker("rollout")
    if shutil.which("docker-compose") is None:
        sys.exit("rollout: docker-compose is not installed; run .ci/docker.sh (as root), which "
                 "installs Debian's docker-compose, or apt-get install docker-compose")
    manager = subprocess.run(["docker", "info", "--format", "{{.Swarm.ControlAvailable}}"],
                             capture_output=True, text=True, check=False).stdout.strip()
    if manager != "true":
        sys.exit("rollout: the Docker engine is not a swarm manager (the swarm rows need one); "
                 "run scripts/swarm.sh init")
    return list(WAYS)


def _rows(results: dict[str, list[dict[str, Any]]]) -> list[list[object]]:
    manual = {k: median([r[k] for r in results[MANUAL]]) for k in ("longest_gap_s", "new_version_s")}
    rows: list[list[object]] = []
    for way, runs in results.items():
        gap, new = (median([r[k] for r in runs]) for k in ("longest_gap_s", "new_version_s"))
        kinds = sum((Counter(r["failures"]) for r in runs), Counter())
        rows.append([way, int(median([r["failed"] for r in runs])), gap,
                     ratio(gap, manual["longest_gap_s"]), new, ratio(new, manual["new_version_s"]),
                     ", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "-"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="predicts a second (about)")
    parser.add_argument("--seconds", type=float, default=60.0, help="cap on each load stream")
    args = parser.parse_args()
    ways, load = _ways_available(), Load(args.rate, args.seconds)
    results: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    for index in range(args.rounds):
        for way in rotated(ways, index):
            with tempfile.TemporaryDirectory() as tmp:
                results[way].append(WAYS[way](Path(tmp), load))
    print(table(["rollout", "failed", "longest gap s", "vs manual", "v2 answers after s",
                 "vs manual", "failures, all rounds"], _rows(results)))
    print(f"(medians of {args.rounds} rounds, ways round-robin; ~{args.rate:.0f} predicts/s on "
          "loopback to the `stable` label, which each rollout moves to version 2)")
    if any(r["truncated"] for runs in results.values() for r in runs):
        print(f"note: some streams hit the --seconds cap ({args.seconds:.0f} s): their figures "
              "are lower bounds")
    print(f"wrote {save('rollout', {'args': vars(args), 'results': results})}")
    lost = [r["failed"] for way, runs in results.items()
            if "hot reload" in way or "swarm" in way for r in runs]
    if any(lost):
        print(f"rollout: a tfsctl hot reload or swarm rollout lost requests ({lost}): see the "
              "failures column", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main("rollout", main))
