#!/usr/bin/env python3
"""A version rollout under a mixed load: `tfsctl apply` against the ways teams do it by hand.

Concurrent clients of three kinds (tests/support/load.py: REST keep-alive, REST
with a new connection per request, gRPC through the official
tensorflow-serving-api stubs), about --rate predicts a second in all to the
`stable` label on loopback, run while version 2 of half_plus_two is rolled out
and `stable` moved onto it, by
  * `tfsctl apply` of the changed spec: a hot reload on docker; a replace on
    docker (batching switched on in the same change, so a new container is
    needed: blue/green behind the proxy); on swarm (2 replicas behind HAProxy) a
    rolling replace; and the two replaces again with apply sent SIGTERM half-way
    (its rollback must lose nothing either);
  * `tfsctl apply` as a canary (20% then 50%, 5 s each, judged every second): a good
    version 2, promoted; and a version 2 that passes no smoke request of its own but
    fails the load's inputs of 3 or more, which the analysis aborts in its first step
    (its failed requests are at most that step's share of the requests, then none);
  * the manual way: copy the version in, rewrite model.config, `docker restart`;
  * docker-compose: the same, plus a changed service in docker-compose.yml (an
    environment variable, as a team bumps a version tag), then `docker-compose up -d`.
For each: failed requests (by client and kind), the longest gap without any
answer, the seconds until version 2 answers (watched while the rollout runs) and
until the rollout's command returned; medians over --rounds, the ways
round-robin inside each round (same machine noise), and the time to version 2
as a ratio to the floor measured in the same run: a bare `docker run` of the
image until version 1 is AVAILABLE, alone and with the same load running on a
server beside it (every rollout starts its container under that load). Exits 1
if a tfsctl row lost a request.

Needs the Docker engine, the tfsctl/serve:dev and tfsctl/haproxy:dev images and
docker-compose (.ci/docker.sh, as root, once after ./scripts/setup.sh); the
swarm rows need the engine to be a swarm manager (scripts/swarm.sh init) and
are left out, saying so, when it is not. Writes bench/results/rollout.json.

    .venv/bin/python bench/rollout.py [--rounds 3] [--rate 120] [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (  # noqa: E402
    IMAGE,
    SERVING_ARGS,
    BenchError,
    SpecServer,
    add_version,
    docker_rm,
    docker_run_serving,
    free_port,
    median,
    model_config_text,
    ratio,
    require_docker,
    rotated,
    run,
    run_main,
    save,
    table,
    tfsctl_command,
    wait_available,
    wait_for_version,
)
from tests.support.deployment import make_picky_model  # noqa: E402
from tests.support.load import CLIENTS as CLIENT_KINDS  # noqa: E402
from tests.support.load import MixedLoad  # noqa: E402

MANUAL = "manual: model.config + docker restart"


@dataclass(frozen=True)
class Load:
    rate: float
    seconds: float


def under_load(rest: int, grpc: int, load: Load, rollout: Callable[[], None],
               new_version: bool = True) -> dict[str, Any]:
    """Run `rollout` inside the mixed load on `stable`; the figures of that one rollout.

    The load runs a second before (a baseline of answers) and a second after version 2
    answers (so a late failure is still counted). Version 2 is watched for while the
    rollout runs, so its time is when clients can first reach it (a swarm's new task
    answers before apply has seen the old ones stop), and `rollout_s` is when the
    rollout's own command returned; `new_version` False: the rollout is taken back
    (interrupted), so there is no version 2 to wait for.
    """
    with MixedLoad("127.0.0.1", rest, grpc, "half_plus_two", "stable", [1.0, 2.0, 5.0],
                   [2.5, 3.0, 4.5], rate=load.rate, limit_s=load.seconds) as stream:
        time.sleep(1)
        start = time.monotonic()
        with ThreadPoolExecutor(1) as watcher:
            answered = watcher.submit(wait_for_version, rest, 2, start) if new_version else None
            rollout()
            rollout_s = time.monotonic() - start
            new_version_s = answered.result() if answered is not None else None
        time.sleep(1)
    return {**stream.report(), "new_version_s": new_version_s, "rollout_s": rollout_s}


def _interrupted_apply(spec: Path) -> None:
    """`tfsctl apply`, sent SIGTERM half-way: once the runtime step began (the progress
    line naming it) and the new server had a moment to start."""
    apply = subprocess.Popen(tfsctl_command("apply", "-f", str(spec), "--auto-approve"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "NO_COLOR": "1"})
    assert apply.stderr is not None
    for line in apply.stderr:
        if "] replace:" in line:
            time.sleep(2.0)
            apply.send_signal(signal.SIGTERM)
            break
    apply.communicate(timeout=600)
    if apply.returncode != 1:
        raise BenchError(f"the interrupted apply exited {apply.returncode}, not 1 (rolled back)")


def by_apply(work: Path, load: Load, runtime: str, replace: bool = False,
             replicas: int = 1, interrupt: bool = False) -> dict[str, Any]:
    """`tfsctl apply` of the spec with version 2 (exported by apply) and `stable: 2`."""
    server = SpecServer(work, runtime, f"bench-rollout-{os.getpid()}", replicas=replicas)
    with server.deployed([1], stable=1):

        def rollout() -> None:
            server.write([1, 2], stable=2, batching=replace)
            if interrupt:
                _interrupted_apply(server.spec)
            else:
                server.apply()

        return under_load(server.rest, server.grpc, load, rollout, new_version=not interrupt)


#: The canary rows' rollout: short steps, so that a round stays short.
CANARY = {"strategy": "canary",
          "steps": [{"weight": 20, "pause": "5s"}, {"weight": 50, "pause": "5s"}],
          "analysis": {"interval": "1s", "max_error_rate": 0.01, "min_requests": 10}}


def by_canary(work: Path, load: Load, bad: bool = False) -> dict[str, Any]:
    """`tfsctl apply` of version 2 as a canary: half_plus_two again, or (`bad`) a version
    that fails on the load's inputs of 3 or more, which the analysis must abort (apply
    exits 1, version 1 keeps serving)."""
    sources = {2: make_picky_model(work / "picky")} if bad else {}
    server = SpecServer(work, "docker", f"bench-canary-{os.getpid()}", rollout=CANARY,
                        sources=sources)
    with server.deployed([1], stable=1):

        def rollout() -> None:
            server.write([1, 2], stable=2)
            applied = subprocess.run(tfsctl_command("apply", "-f", str(server.spec),
                                                    "--auto-approve"),
                                     capture_output=True, text=True, check=False,
                                     env={**os.environ, "NO_COLOR": "1"})
            if applied.returncode != (1 if bad else 0) or \
                    bad and "canary aborted at step 1" not in applied.stderr:
                raise BenchError(f"the canary apply exited {applied.returncode}:\n"
                                 f"{applied.stderr[-2000:]}")

        return under_load(server.rest, server.grpc, load, rollout, new_version=not bad)


def bare_run(work: Path) -> float:
    """The floor: seconds from `docker run` of the image until version 1 is AVAILABLE."""
    root, rest, name = work / "models", free_port(), f"bench-floor-{os.getpid()}"
    _start_by_hand(root)
    try:
        start = time.monotonic()
        docker_run_serving(name, root, rest)
        wait_available(rest, 1)
        return time.monotonic() - start
    finally:
        docker_rm(name)


def bare_run_under_load(work: Path, load: Load) -> float:
    """The floor again, with the same load on a server beside it: what starting any new
    container costs on this machine while the load runs (a replace cannot start faster)."""
    root, rest, grpc = work / "models", free_port(), free_port()
    serving, started = f"bench-loaded-{os.getpid()}", f"bench-floor-loaded-{os.getpid()}"
    _start_by_hand(root)
    seconds: list[float] = []
    try:
        docker_run_serving(serving, root, rest, grpc)
        wait_for_version(rest, 1, time.monotonic())

        def start_another() -> None:
            start = time.monotonic()
            docker_run_serving(started, root, free_port())
            wait_available(int(_published(started)), 1)
            seconds.append(time.monotonic() - start)

        under_load(rest, grpc, load, start_another, new_version=False)
        return seconds[0]
    finally:
        docker_rm(started)
        docker_rm(serving)


def _published(container: str) -> str:
    """The host port a container's REST port is published on."""
    return run(["docker", "port", container, "8501/tcp"]).stdout.split(":")[-1].strip()


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
    root, rest, grpc = work / "models", free_port(), free_port()
    name = f"bench-manual-{os.getpid()}"
    _start_by_hand(root)
    try:
        docker_run_serving(name, root, rest, grpc)
        wait_for_version(rest, 1, time.monotonic())

        def rollout() -> None:
            _roll_by_hand(root)
            run(["docker", "restart", "-t", "10", name])

        return under_load(rest, grpc, load, rollout)
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

        return under_load(rest, grpc, load, rollout)
    finally:
        subprocess.run([*compose, "down", "-t", "2"], capture_output=True, check=False)


SWARM_REPLACE = "tfsctl apply, swarm x2 (rolling replace)"
BAD_CANARY = "tfsctl apply, docker (canary, fails on real inputs: aborted)"
WAYS: dict[str, Callable[[Path, Load], dict[str, Any]]] = {
    "tfsctl apply, docker (hot reload)": partial(by_apply, runtime="docker"),
    "tfsctl apply, docker (replace)": partial(by_apply, runtime="docker", replace=True),
    "tfsctl apply, docker (replace, SIGTERM half-way)": partial(
        by_apply, runtime="docker", replace=True, interrupt=True),
    SWARM_REPLACE: partial(by_apply, runtime="swarm", replace=True, replicas=2),
    f"{SWARM_REPLACE[:-1]}, SIGTERM half-way)": partial(
        by_apply, runtime="swarm", replace=True, replicas=2, interrupt=True),
    "tfsctl apply, docker (canary, good version)": by_canary,
    BAD_CANARY: partial(by_canary, bad=True),
    MANUAL: by_hand,
    "docker-compose up -d (recreate)": by_compose,
}


def _ways_available() -> list[str]:
    """Every way this machine can run (the Docker ones are the point of comparison)."""
    require_docker("rollout")
    if shutil.which("docker-compose") is None:
        sys.exit("rollout: docker-compose is not installed; run .ci/docker.sh (as root), which "
                 "installs Debian's docker-compose, or apt-get install docker-compose")
    manager = subprocess.run(["docker", "info", "--format", "{{.Swarm.ControlAvailable}}"],
                             capture_output=True, text=True, check=False).stdout.strip()
    if manager != "true":
        print("rollout: the Docker engine is not a swarm manager: no swarm rows "
              "(scripts/swarm.sh init makes it one)", file=sys.stderr)
        return [way for way in WAYS if "swarm" not in way]
    return list(WAYS)


def _rows(results: dict[str, list[dict[str, Any]]], floor: float,
          loaded: float) -> list[list[object]]:
    rows: list[list[object]] = []
    for way, runs in results.items():
        gap = median([r["longest_gap_s"] for r in runs])
        new = [r["new_version_s"] for r in runs if r["new_version_s"] is not None]
        returned = median([r["rollout_s"] for r in runs])
        kinds = sum((Counter(r["failures"]) for r in runs), Counter())
        rows.append([way, int(median([r["failed"] for r in runs])),
                     int(median([r["sent"] for r in runs])), median([r["rate"] for r in runs]),
                     gap, median(new) if new else "-", ratio(median(new), floor) if new else "-",
                     ratio(median(new), loaded) if new else "-", returned,
                     ", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "-"])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=120.0, help="predicts a second, all clients")
    parser.add_argument("--seconds", type=float, default=120.0, help="cap on each load")
    parser.add_argument("--only", default="", help="run only the ways whose name contains this")
    args = parser.parse_args()
    ways = [w for w in _ways_available() if args.only in w]
    load = Load(args.rate, args.seconds)
    results: dict[str, list[dict[str, Any]]] = {way: [] for way in ways}
    floors: list[float] = []
    loaded: list[float] = []
    for index in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            floors.append(bare_run(Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            loaded.append(bare_run_under_load(Path(tmp), load))
        for way in rotated(ways, index):
            with tempfile.TemporaryDirectory() as tmp:
                results[way].append(WAYS[way](Path(tmp), load))
    floor, floor_loaded = median(floors), median(loaded)
    print(table(["rollout", "failed", "sent", "req/s", "longest gap s", "v2 answers after s",
                 "vs docker run", "vs docker run under load", "command returned after s",
                 "failures by client, all rounds"],
                _rows(results, floor, floor_loaded)))
    print(f"(medians of {args.rounds} rounds, ways round-robin; {len(CLIENT_KINDS)} client kinds "
          f"at ~{args.rate:.0f} predicts/s in all on loopback to the `stable` label, which each "
          f"rollout moves to version 2; floor: bare `docker run` to AVAILABLE, {floor:.2f} s "
          f"alone, {floor_loaded:.2f} s with the load on a server beside it)")
    saved = {"args": vars(args), "floor_s": floors, "floor_loaded_s": loaded, "results": results}
    print(f"wrote {save('rollout', saved)}")
    lost = {way: [r["failed"] for r in runs] for way, runs in results.items()
            if way.startswith("tfsctl") and "replace" in way or "hot reload" in way
            or "good version" in way}
    if any(any(v) for v in lost.values()):
        print(f"rollout: a tfsctl rollout lost requests ({lost}): see the failures column",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main("rollout", main))
