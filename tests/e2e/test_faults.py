"""An apply killed at each of its steps (SIGKILL, no cleanup) must leave a serving server,
no partial version visible to it, and a state the next apply converges from."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability.tally import Tally
from tests.support.deployment import Deployment, hpt_model
from tests.support.net import free_port
from tfsctl.failpoints import ENV, POINTS
from tfsctl.journal import JOURNAL_FILE

pytestmark = pytest.mark.slow

#: Failpoints reached after the apply was verified and committed: a blue/green replace's
#: drain of blue (docker), which recovery finishes instead of undoing.
AFTER_COMMIT = {("docker", "during-replace")}

def _killed_apply(d: Deployment, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "apply", "-f",
                           str(d.spec_file), "--auto-approve"], capture_output=True, text=True,
                          cwd=d.root, timeout=600, env={**os.environ, ENV: point})


def test_kill_at_every_step(deployment: Deployment, tally: Tally) -> None:
    """SIGKILL at each failpoint in turn; the guardian (or the next apply) undoes the
    interrupted apply, so the old version answers, and the next apply converges."""
    d = deployment
    base = {"batching": {"max_batch_size": 8}, "env": {"ROLLOUT": "a"}}
    d.write([hpt_model([1], 1)], **base)
    d.apply()
    after_commit = 0
    for killed_so_far, point in enumerate(POINTS, start=1):
        # a reload-only change, or one that replaces the server (new batching and env)
        restart = point in ("after-side-files", "during-replace", "after-runtime", "after-switch")
        target = {"batching": {"max_batch_size": 16}, "env": {"ROLLOUT": "b"}} if restart else base
        d.write([hpt_model([1, 2], 2)], **target)
        killed = _killed_apply(d, point)
        assert killed.returncode == -9, (point, killed.stdout, killed.stderr)
        assert d.answers_version_1(), f"not serving after a kill at {point}"
        d.assert_no_partial_version(point)
        # the next apply converges, with no manual repair
        d.apply()
        assert d.plan_exit_code() == 0, point
        # the history tells of the killed apply: undone by its guardian or by the next apply,
        # or (killed after it was verified, while blue drained) a success, and then the next
        # apply has nothing to do; either way each round so far added two successes
        after_commit += (d.runtime, point) in AFTER_COMMIT
        history = d.tfsctl("history", "-f", str(d.spec_file), check=True).stdout
        assert history.count("undone") == killed_so_far - after_commit, (point, history)
        assert history.count("success") == 2 * killed_so_far, (point, history)
        assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
        # back to the starting point for the next kill: version 2 goes, so it is exported
        # (and killed at) again
        d.write([{**hpt_model([1], 1), "prune": True}], **base)
        d.apply()
        tally.add(f"apply killed (SIGKILL) at a step, {d.runtime} runtime")


def test_concurrent_applies_one_proceeds(tmp_path: Path, tally: Tally) -> None:
    d = Deployment(root=tmp_path / "project", runtime="local", rest=free_port())
    d.root.mkdir()
    try:
        d.write([hpt_model([1], 1)])
        d.apply()
        d.write([hpt_model([1, 2], 2)])
        env = {**os.environ, "NO_COLOR": "1"}
        command = [sys.executable, "-m", "tfsctl.cli.main", "apply", "-f", str(d.spec_file),
                   "--auto-approve"]
        first = subprocess.Popen(command, cwd=d.root, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        # the first holds the lock once it has started changing things (its journal exists)
        journal = d.root / "models" / ".tfsctl" / JOURNAL_FILE
        while not journal.exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        second = subprocess.run(command, cwd=d.root, env=env, capture_output=True, text=True,
                                timeout=300)
        first_out = first.communicate(timeout=300)
        assert first.returncode == 0, first_out
        assert second.returncode == 1 and "is being changed by pid" in second.stderr
        assert d.plan_exit_code() == 0
        assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
        tally.add("concurrent applies on one server")
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
