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
ratio of the sizes: 1.0 is linear. Prints medians and writes
bench/results/plan_scale.json. Needs only ./scripts/setup.sh (no server, no Docker).

    .venv/bin/python bench/plan_scale.py [--sizes 10,100,1000,5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
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

from bench._common import MODEL, median, save, table  # noqa: E402
from tfsctl.cli.main import tune_gc  # noqa: E402
from tfsctl.live.observe import observe  # noqa: E402
from tfsctl.live.sources import observe_sources  # noqa: E402
from tfsctl.plan.diff import build_plan  # noqa: E402
from tfsctl.plan.render.text import render_text  # noqa: E402
from tfsctl.runtimes.desired import desired_model_entries  # noqa: E402
from tfsctl.serverconfig.model_config import render_text as config_text
from tfsctl.spec.load import load_spec  # noqa: E402

VERSIONS = 5


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
    render_text(plan, Console(file=io.StringIO(), no_color=True, width=120))
    t4 = time.perf_counter()
    times.update(load=t1 - t0, observe=t2 - t1, diff=t3 - t2, render=t4 - t3, own=t4 - t0)
    return times


def _growth(results: list[dict[str, float]], key: str) -> str:
    """The last size's time over the one before, per unit of size ratio (1.00 = linear)."""
    if len(results) < 2:
        return "-"
    before, now = results[-2], results[-1]
    return f"{(now[key] / before[key]) / (now['models'] / before['models']):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tune_gc()  # the in-process stages run with the collector settings the CLI uses
    rows, results = [], []
    for size in map(int, args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            spec = build(Path(tmp), size)
            runs = [stages(spec) for _ in range(args.rounds)]
            walls = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "plan", "-f", str(spec)],
                               check=True, capture_output=True, env={**os.environ, "NO_COLOR": "1"})
                walls.append(time.perf_counter() - start)
        med = {k: median([r[k] for r in runs]) for k in runs[0]}
        result = {"models": size, "versions": size * VERSIONS, "command_s": median(walls), **{
            f"{k}_s": v for k, v in med.items()}}
        results.append(result)
        rows.append([size, size * VERSIONS, median(walls), med["own"], med["load"], med["observe"],
                     med["diff"], med["render"], _growth(results, "command_s"),
                     _growth(results, "own_s")])
    print(table(["models", "versions", "plan cmd s", "own work s", "load", "observe", "diff",
                 "render", "growth cmd", "growth own"], rows))
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"own work grows {last['own_s'] / first['own_s']:.0f}x and the command "
              f"{last['command_s'] / first['command_s']:.1f}x for {last['models'] / first['models']:.0f}x "
              f"the models ({1e6 * last['own_s'] / last['versions']:.0f} us of own work per version "
              f"at {last['models']:,} models); medians of {args.rounds} rounds")
    print(f"wrote {save('plan_scale', {'rounds': args.rounds, 'results': results})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
