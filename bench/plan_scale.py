#!/usr/bin/env python3
"""plan at scale: N models x 5 versions of real model directories, cold `tfsctl plan`.

For each N, builds a model root of real SavedModel version dirs (half_plus_two,
hard-linked: the same files on disk, so 25,000 versions cost inodes, not space),
a matching spec and the model.config apply would have written, then measures
several rounds of:
  * the whole `tfsctl plan` command in a fresh process (cold: nothing cached in
    the process; what a user waits for), and
  * tfsctl's own work in-process, stage by stage: load the spec, observe the
    live state, diff, render (Python start-up and imports excluded).
The growth column is each size's time over the previous size's, divided by the
ratio of the sizes: 1.0 is linear. Beside them, in the same rounds:
  * the floor: a fresh Python that lists every directory under the model root and
    stats every file in it (what any observer of those versions pays, with the
    interpreter's start-up), and the command's time as a ratio of it;
  * peak memory of the whole command (`peak_rss_mb`: VmHWM of the fresh process,
    read as it exits, so nothing of this process is counted);
  * with `--baseline DIR`, the whole command and its peak memory with the tfsctl of
    another checkout (say a copy of an older commit), round-robin with this one.
Each tree's bytecode is compiled first, as `pip install` does. Prints medians and
writes bench/results/plan_scale.json. Needs only ./scripts/setup.sh (no server, no
Docker).

    .venv/bin/python bench/plan_scale.py [--sizes 10,100,1000,5000] [--rounds 5] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import compileall
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402
from rich.console import Console  # noqa: E402

from bench._common import MODEL, median, rotated, save, table  # noqa: E402
from tfsctl.cli.main import tune_gc  # noqa: E402
from tfsctl.live.observe import observe  # noqa: E402
from tfsctl.live.sources import observe_sources  # noqa: E402
from tfsctl.plan.diff import build_plan  # noqa: E402
from tfsctl.plan.render.text import render_text  # noqa: E402
from tfsctl.runtimes.desired import desired_model_entries  # noqa: E402
from tfsctl.serverconfig.model_config import render_text as config_text
from tfsctl.spec.load import load_spec  # noqa: E402

VERSIONS = 5
#: Lists and stats what an observer of the model root must, in a fresh interpreter.
FLOOR = """
import os, sys
stack = [sys.argv[1]]
while stack:
    for entry in os.scandir(stack.pop()):
        if entry.is_dir(follow_symlinks=False):
            stack.append(entry.path)
        else:
            entry.stat(follow_symlinks=False)
"""
#: `tfsctl plan` as the CLI runs it, reporting the process's peak RSS (kB) as it exits.
PEAK = """
import atexit, re, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    sys.stderr.write("peak_kb " + re.search(r"VmHWM:\\s+(\\d+)", status)[1] + "\\n")
atexit.register(peak)
sys.argv = ["tfsctl", *sys.argv[1:]]
runpy.run_module("tfsctl.cli.main", run_name="__main__", alter_sys=True)
"""


def build(root: Path, models: int) -> Path:
    model_root = root / "models"
    for m in range(models):
        for v in range(1, VERSIONS + 1):
            shutil.copytree(MODEL, model_root / f"model{m:05d}" / f"{v:08d}", copy_function=os.link)
    spec = root / "tfsctl.yaml"
    spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [{
        "name": "scale", "runtime": "local", "model_root": str(model_root),
        "models": [{"name": f"model{m:05d}", "policy": {"latest": 2},
                    "versions": {v: {} for v in range(1, VERSIONS + 1)},
                    "labels": {"stable": VERSIONS}} for m in range(models)]}]}))
    loaded = load_spec(spec)
    (model_root / "model.config").write_text(config_text(desired_model_entries(loaded.spec.servers[0])))
    return spec


def stages(spec: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    loaded = load_spec(spec)
    t1 = time.perf_counter()
    live = observe(loaded, report=False)
    sources = observe_sources(loaded.spec, live)
    t2 = time.perf_counter()
    plan = build_plan(loaded, live, sources=sources, secrets={})
    t3 = time.perf_counter()
    # as the CLI's stdout console prints (tfsctl.cli.console), into a buffer
    render_text(plan, Console(file=io.StringIO(), no_color=True, highlight=False, soft_wrap=True))
    t4 = time.perf_counter()
    times.update(load=t1 - t0, observe=t2 - t1, diff=t3 - t2, render=t4 - t3, own=t4 - t0)
    return times


def _growth(results: list[dict[str, float]], key: str) -> str:
    """The last size's time over the one before, per unit of size ratio (1.00 = linear)."""
    if len(results) < 2:
        return "-"
    before, now = results[-2], results[-1]
    return f"{(now[key] / before[key]) / (now['models'] / before['models']):.2f}"


def _run(tree: Path | None, args: list[str]) -> subprocess.CompletedProcess[str]:
    """A fresh Python in `tree` (None: this checkout); `python -m` looks in the cwd first."""
    root = tree or Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True,
                          cwd=root, env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(root)})


def timed_run(tree: Path | None, args: list[str]) -> float:
    start = time.perf_counter()
    _run(tree, args)
    return time.perf_counter() - start


def peak_rss_mb(tree: Path | None, spec: Path) -> float:
    err = _run(tree, ["-c", PEAK, "plan", "-f", str(spec)]).stderr
    return int(err.rsplit("peak_kb ", 1)[1].split()[0]) / 1024


def command_rounds(spec: Path, trees: dict[str, Path | None], rounds: int) -> dict[str, float]:
    """Medians of the floor and, for each tree, the whole command and its peak memory,
    round-robin so that none always runs first."""
    samples: dict[str, list[float]] = {"floor_s": []}
    for name in trees:
        samples |= {f"{name}command_s": [], f"{name}peak_rss_mb": []}
    ways = ["floor", *trees]
    for index in range(rounds):
        for way in rotated(ways, index):
            if way == "floor":
                samples["floor_s"].append(timed_run(None, ["-c", FLOOR, str(spec.parent / "models")]))
                continue
            samples[f"{way}command_s"].append(timed_run(trees[way], ["-m", "tfsctl.cli.main", "plan",
                                                                     "-f", str(spec)]))
            samples[f"{way}peak_rss_mb"].append(peak_rss_mb(trees[way], spec))
    return {k: median(v) for k, v in samples.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also time the whole command with the tfsctl of this checkout")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "tfsctl" / "cli" / "main.py").exists():
        print(f"--baseline {args.baseline}: not a tfsctl checkout", file=sys.stderr)
        return 1
    trees: dict[str, Path | None] = {"": None}
    if args.baseline is not None:
        trees["baseline_"] = args.baseline.resolve()
    for tree in trees.values():  # as `pip install` leaves it: no run times the compiler
        compileall.compile_dir(str((tree or Path(__file__).resolve().parents[1]) / "tfsctl"),
                               quiet=1)
    tune_gc()  # the in-process stages run with the collector settings the CLI uses
    rows, results = [], []
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            spec = build(Path(tmp), size)
            runs = [stages(spec) for _ in range(args.rounds)]
            command = command_rounds(spec, trees, args.rounds)
        med = {k: median([r[k] for r in runs]) for k in runs[0]}
        result = {"models": size, "versions": size * VERSIONS, **command,
                  **{f"{k}_s": v for k, v in med.items()}}
        results.append(result)
        baseline = [result["baseline_command_s"], result["baseline_peak_rss_mb"]] \
            if args.baseline is not None else []
        rows.append([size, size * VERSIONS, result["floor_s"], result["command_s"],
                     f"{result['command_s'] / result['floor_s']:.2f}x", *baseline,
                     result["peak_rss_mb"], med["own"], med["load"], med["observe"], med["diff"],
                     med["render"], _growth(results, "command_s"), _growth(results, "own_s")])
    before = ["baseline cmd s", "baseline MB"] if args.baseline is not None else []
    print(table(["models", "versions", "floor s", "plan cmd s", "cmd/floor", *before, "peak MB",
                 "own work s", "load", "observe", "diff", "render", "growth cmd", "growth own"],
                rows))
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"own work grows {last['own_s'] / first['own_s']:.0f}x and the command "
              f"{last['command_s'] / first['command_s']:.1f}x for {last['models'] / first['models']:.0f}x "
              f"the models ({1e6 * last['own_s'] / last['versions']:.0f} us of own work per version "
              f"at {last['models']:,} models); medians of {args.rounds} rounds")
    data = {"rounds": args.rounds, "baseline": str(args.baseline or ""), "results": results}
    print(f"wrote {save('plan_scale', data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
