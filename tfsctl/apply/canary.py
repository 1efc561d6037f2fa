"""The executor of a canary step: shift the weight, judge each interval, abort or go on.

Each `canary-weight` step of the plan gives the verified new server its share of the
requests at the proxy (`RuntimeDriver.split`), then reads both instances' figures at
the start and end of every interval and hands the difference to the pure analysis
(tfsctl/rollout/analysis.py). A failed interval beyond the plan's `failure_limit`, or a
quiet one under `on_inconclusive: stop`, raises `CanaryAborted`: apply then rolls back
as after any failed step (the transaction's runtime undo sends every request back to
the serving instance and removes the canary), and records the rollout as aborted. The
pause between readings is the canary's own: the driver is watched meanwhile, so a
canary that dies fails the step at once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from tfsctl.apply.smoke import Predict, run_smoke
from tfsctl.errors import TfsctlError
from tfsctl.plan.execution import CanaryWeight
from tfsctl.rollout.analysis import Outcome, Verdict, judge
from tfsctl.rollout.progress import CanaryProgress, Figures, write_progress
from tfsctl.runtimes.base import RuntimeDriver

#: How often the canary is checked for being alive during an interval (not a sync point).
_WATCH = 0.25


class CanaryAborted(TfsctlError):
    """The canary's analysis failed it, or it had too little traffic to be judged."""


def _make_up(step: CanaryWeight, verdict: Verdict, predict: Predict) -> None:
    """Send the smoke requests to the canary until the interval has its minimum."""
    missing = step.thresholds.min_requests - verdict.requests
    per_round = sum(len(tests) for _, tests in step.smoke)
    while missing > 0 and per_round:
        for model, tests in step.smoke:
            run_smoke(model, tests, predict)
        missing -= per_round


def _interval(step: CanaryWeight, driver: RuntimeDriver, seconds: float,
              predict: Predict) -> Verdict:
    canary_start, stable_start = driver.canary_figures(step.metrics_path)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        driver.check_started()
        time.sleep(min(_WATCH, left))

    def verdict() -> Verdict:
        canary, stable = driver.canary_figures(step.metrics_path)
        return judge(canary.since(canary_start),
                     stable.since(stable_start) if stable is not None
                     and stable_start is not None else None,
                     step.thresholds)

    found = verdict()
    if found.outcome is Outcome.INCONCLUSIVE and step.smoke:
        _make_up(step, found, predict)
        found = verdict()
    return found


def _withdraw(driver: RuntimeDriver) -> None:
    """Weight 0 for the canary at once, before the rollback that removes it; a proxy that
    does not answer now is the rollback's to report (it routes every request back)."""
    with contextlib.suppress(TfsctlError):
        driver.split(0)


def run_canary_step(step: CanaryWeight, driver: RuntimeDriver, predict: Predict,
                    progress: Callable[[str], None], failures: int) -> int:
    """Run one canary step; the failed intervals so far, `failures` included. Raises
    CanaryAborted once they exceed the plan's limit, or on a quiet interval that `stop`s."""
    limits = step.thresholds
    progress(f"canary step {step.number}/{step.of}: {step.weight}% of the requests to the new "
             f"server for {step.pause:g}s")
    driver.split(step.weight)
    count = limits.intervals(step.pause)
    for index in range(count):
        verdict = _interval(step, driver, step.pause / count, predict)
        left = step.pause * (count - index - 1) / count
        figures = Figures(step.number, step.of, step.weight, verdict.requests,
                          verdict.error_rate, verdict.p99_ms, verdict.outcome.value, left)
        progress(CanaryProgress(figures))
        write_progress(driver.state_dir, figures._asdict())
        where = f"at step {step.number} of {step.of} ({step.weight}%)"
        if verdict.outcome is Outcome.FAIL:
            failures += 1
        if verdict.outcome is Outcome.INCONCLUSIVE:
            _withdraw(driver)
            raise CanaryAborted(
                f"canary inconclusive {where}: {verdict.reason}; not promoted",
                "send it traffic during the canary, lower `analysis.min_requests`, or set "
                "`rollout.on_inconclusive: smoke_traffic`")
        if verdict.outcome is Outcome.FAIL and failures > limits.failure_limit:
            _withdraw(driver)
            raise CanaryAborted(
                f"canary aborted {where}: {verdict.reason}"
                + (f" (interval {failures} failed, {limits.failure_limit} tolerated)"
                   if limits.failure_limit else ""),
                "the change stays pending: fix the new version and apply again")
    return failures
