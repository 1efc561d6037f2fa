#!/usr/bin/env python3
"""apply overhead: the seconds `tfsctl apply` adds on top of the server's own load time.

Version 2 of half_plus_two is already on disk (no export is timed). Per round,
each kind of change, round-robin:
  * hot reload floor: the change made straight to the running server, the way
    tfsctl makes it: write model.config, send it with gRPC HandleReloadConfigRequest
    (the official tensorflow_serving protos), poll the REST status until version 2
    is AVAILABLE; then `tfsctl apply --auto-approve` of the same change (after
    going back through tfsctl), wall time of the command; local and docker runtimes;
    with `--baseline DIR`, the same again with the tfsctl of another checkout (say a
    worktree of an older commit), server deployed and destroyed by that tfsctl too,
    so a before/after table comes from one run on one machine;
  * replace floor: `docker run` of a fresh container with that model.config until
    version 2 is AVAILABLE; against `tfsctl apply` of version 2 together with a
    batching setting, which makes it replace the container (stop, remove, run).
Beside the wall time, the CPU seconds the apply process itself used (user + system):
on a machine shared with other work, the wall time also holds the waits for a core.
Apply's own progress lines, timed as they arrive, split its wall time into phases:
start-up and plan (to its first change), the reload or replace call, waiting
until AVAILABLE, and the interpreter's exit. Two fixed costs are measured beside
them: `tfsctl --version` (Python start-up and the CLI's own imports) and, for
reference, a process importing TensorFlow and exiting with it loaded (what apply
paid while it used the official serving protos).

Each measured tree's bytecode is compiled first, as `pip install` does for a user:
with PYTHONDONTWRITEBYTECODE set, every run would otherwise time the compiler.

Needs ./scripts/setup.sh (TensorFlow, the serving protos), the Docker engine and
the tfsctl/serve:dev image: run .ci/docker.sh (as root) first; the script says so
and exits when they are missing. Writes bench/results/apply_overhead.json.

    .venv/bin/python bench/apply_overhead.py [--rounds 5] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import (  # noqa: E402
    REPO,
    BenchError,
    SpecServer,
    add_version,
    docker_rm,
    docker_run_serving,
    free_port,
    medians,
    require_docker,
    rotated,
    run,
    run_main,
    save,
    table,
    tfsctl_command,
    timed,
    wait_available,
)
from tfsctl.tfenv import import_tensorflow  # noqa: E402

# The serving protos import TensorFlow's: imported here, once, so no floor pays for it.
import_tensorflow()
import grpc  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc  # noqa: E402
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

PROGRESS = re.compile(r"^\[\s*[\d.]+s\] ")  # apply's progress lines: "[   1.6s] waiting: ..."
PHASES = ["start-up + plan", "reload/replace call", "wait until AVAILABLE", "exit"]
TF_COSTS = """
import time
start = time.monotonic()
from tfsctl.tfenv import import_tensorflow
import_tensorflow()
import tensorflow_serving.apis.model_service_pb2_grpc
print(time.monotonic() - start, flush=True)
"""


# ---------------------------------------------------------------- the floors


def reload_by_hand(grpc_port: int, config: model_server_config_pb2.ModelServerConfig) -> None:
    """HandleReloadConfigRequest, as any client of TF Serving's ModelService sends it."""
    request = model_management_pb2.ReloadConfigRequest(config=config)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        response = model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            request, timeout=120)
    if response.status.error_code:
        raise BenchError(f"the server refused the config: {response.status.error_message}")


def reload_floor(server: SpecServer) -> float:
    """Version 2 added to the model.config tfsctl wrote, sent straight to the server."""
    path = server.model_root / "model.config"
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    config.model_config_list.config[0].model_version_policy.specific.versions.append(2)
    start = time.monotonic()
    path.write_text(text_format.MessageToString(config))
    reload_by_hand(server.grpc, config)
    wait_available(server.rest, 2)
    return time.monotonic() - start


def start_floor(model_root: Path) -> float:
    """A fresh container from the model.config in `model_root`, until version 2 is AVAILABLE."""
    name, rest = f"bench-floor-{os.getpid()}", free_port()
    start = time.monotonic()
    try:
        docker_run_serving(name, model_root, rest)
        wait_available(rest, 2)
        return time.monotonic() - start
    finally:
        docker_rm(name)


# ---------------------------------------------------------------- tfsctl apply, timed


def timed_apply(server: SpecServer) -> dict[str, float]:
    """Wall time of `tfsctl apply`, and its phases from when each output line arrives."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}  # lines arrive when printed
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    process = subprocess.Popen(tfsctl_command("apply", "-f", str(server.spec), "--auto-approve"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert process.stdout is not None
    lines = [(time.monotonic() - start, line.rstrip()) for line in process.stdout]
    apply_s = time.monotonic() - start if process.wait() == 0 else None
    if apply_s is None:
        raise BenchError("tfsctl apply failed:\n" + "\n".join(line for _, line in lines[-5:]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"apply_s": apply_s, "apply_cpu_s": cpu_s, **phases(lines, apply_s)}


def phases(lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Split apply's wall time at its first change, the line after it (the call returned:
    `waiting: ...` or the summary) and `Apply complete.`; the rest is the exit."""
    progress = [t for t, line in lines if PROGRESS.match(line)]
    complete = next(t for t, line in lines if line == "Apply complete.")
    changed = progress[0]
    returned = next((t for t, _ in lines if t > changed), complete)
    return dict(zip(PHASES, [changed, returned - changed, complete - returned, total - complete],
                    strict=True))


# ---------------------------------------------------------------- which tfsctl


def compile_tree(tree: Path) -> None:
    compileall.compile_dir(str(tree / "tfsctl"), quiet=1)


@contextlib.contextmanager
def tfsctl_from(tree: Path | None) -> Iterator[None]:
    """Every tfsctl command started inside (and the local servers they start) runs the tfsctl
    of checkout `tree` (None: this one). `python -m` looks in the working directory first,
    so that changes too, and PYTHONPATH for processes that start elsewhere."""
    tree = tree or REPO
    saved_cwd, saved_path = Path.cwd(), os.environ.get("PYTHONPATH")
    os.chdir(tree)
    os.environ["PYTHONPATH"] = str(tree)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        if saved_path is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved_path


# ---------------------------------------------------------------- the kinds of change


def _server(work: Path, runtime: str) -> SpecServer:
    server = SpecServer(work, runtime, f"bench-overhead-{os.getpid()}", exported=False)
    for version in (1, 2):
        add_version(server.model_root, version)
    return server


def hot_reload(work: Path, runtime: str, tree: Path | None = None) -> dict[str, float]:
    server = _server(work, runtime)
    with tfsctl_from(tree), server.deployed([1]):
        floor = reload_floor(server)
        server.write([1])
        server.apply()  # back to [1] through tfsctl, so that apply makes the same change
        server.write([1, 2])
        return {"floor_s": floor, **timed_apply(server)}


def replace(work: Path) -> dict[str, float]:
    server = _server(work, "docker")
    config = server.model_root / "model.config"
    with tfsctl_from(None), server.deployed([1]):
        server.write([1, 2], batching=True)
        applied = timed_apply(server)
        text = config.read_text()
    config.write_text(text)  # destroy removed it; the floor starts from what apply wrote
    return {"floor_s": start_floor(server.model_root), **applied}


def fixed_costs() -> dict[str, float]:
    """Python start-up with the CLI's imports, and TensorFlow's import and exit."""
    with tfsctl_from(None):
        startup = timed(lambda: run(tfsctl_command("--version")))
    start = time.monotonic()
    process = subprocess.Popen([sys.executable, "-c", TF_COSTS], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    imported = float(process.stdout.readline())
    printed = time.monotonic()
    process.wait()
    return {"startup_s": startup, "tf_import_s": imported, "tf_exit_s": time.monotonic() - printed,
            "tf_process_s": time.monotonic() - start}


KINDS: dict[str, Callable[[Path], dict[str, float]]] = {
    "hot reload, local": partial(hot_reload, runtime="local"),
    "hot reload, docker": partial(hot_reload, runtime="docker"),
    "replace, docker": replace,
}


def kinds(baseline: Path | None) -> dict[str, Callable[[Path], dict[str, float]]]:
    found = dict(KINDS)
    if baseline is not None:
        for runtime in ("local", "docker"):
            found[f"hot reload, {runtime}, baseline"] = partial(hot_reload, runtime=runtime,
                                                                tree=baseline)
    return found


def report(results: dict[str, list[dict[str, float]]], costs: list[dict[str, float]],
           rounds: int) -> None:
    med = {kind: medians(runs) for kind, runs in results.items()}
    print(table(["change", "server floor s", "tfsctl apply s", "overhead s", "ratio", "apply CPU s"],
                [[kind, m["floor_s"], m["apply_s"], m["apply_s"] - m["floor_s"],
                  f"{m['apply_s'] / m['floor_s']:.1f}x", m["apply_cpu_s"]] for kind, m in med.items()]))
    print()
    print(table(["tfsctl apply, phases s", *PHASES], [[kind, *(m[p] for p in PHASES)]
                                                      for kind, m in med.items()]))
    fixed = medians(costs)
    print(f"beside them: Python start-up + CLI imports (`tfsctl --version`) {fixed['startup_s']:.2f} s; "
          f"for reference, importing TensorFlow {fixed['tf_import_s']:.2f} s, and exiting "
          f"with it loaded {fixed['tf_exit_s']:.2f} s")
    print(f"(medians of {rounds} rounds, kinds round-robin; version 2 already on disk: no export)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time the hot reloads with the tfsctl of this checkout")
    args = parser.parse_args()
    require_docker("apply_overhead")
    if args.baseline is not None and not (args.baseline / "tfsctl" / "cli" / "main.py").exists():
        raise BenchError(f"--baseline {args.baseline}: not a tfsctl checkout")
    for tree in (REPO, args.baseline):
        if tree is not None:
            compile_tree(tree)
    measured = kinds(args.baseline)
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in measured}
    costs = []
    for index in range(args.rounds):
        for kind in rotated(list(measured), index):
            with tempfile.TemporaryDirectory() as tmp:
                results[kind].append(measured[kind](Path(tmp)))
        costs.append(fixed_costs())
    report(results, costs, args.rounds)
    data: dict[str, Any] = {"args": {**vars(args), "baseline": str(args.baseline or "")},
                            "results": results, "fixed": costs}
    print(f"wrote {save('apply_overhead', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main("apply_overhead", main))
