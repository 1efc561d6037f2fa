"""The canary step's executor with a fake runtime: it shifts the weight, judges every
interval on the figures' difference, and aborts naming metric, value, threshold and step."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from tfsctl.apply.canary import CanaryAborted, run_canary_step
from tfsctl.apply.executor import ApplyFailed
from tfsctl.journal import JOURNAL_FILE
from tfsctl.plan.execution import CanaryWeight
from tfsctl.rollout.figures import Counters
from tfsctl.rollout.plan import Thresholds
from tfsctl.rollout.progress import read_progress
from tfsctl.runtimes.base import RuntimeDriver
from tfsctl.spec.model_spec import SmokeTest


class FakeCanary:
    """Each reading adds `ok` and `failed` requests to the canary, 10x as many OK to stable."""

    def __init__(self, ok: int, failed: int, state_dir: Path):
        self.ok, self.failed, self.state_dir = ok, failed, state_dir
        self.canary, self.stable = Counters(), Counters()
        self.weights: list[int] = []
        self.smoke_sent = 0

    def split(self, weight: int) -> None:
        self.weights.append(weight)

    def check_started(self) -> None:
        return None

    def canary_figures(self, metrics_path: str) -> tuple[Counters, Counters]:
        assert metrics_path == "/metrics"
        self.canary = Counters(ok=self.canary.ok + self.ok + self.smoke_sent,
                               failed=self.canary.failed + self.failed)
        self.smoke_sent = 0
        self.stable = Counters(ok=self.stable.ok + 10 * (self.ok + self.failed))
        return self.canary, self.stable

    def predict(self, model: str, body: dict[str, Any], version: int | None,
                label: str | None) -> dict[str, Any]:
        self.smoke_sent += 1
        return {"predictions": [2.5]}


def _step(number: int = 1, weight: int = 20, quiet: str = "stop", limit: int = 0,
          smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...] = ()) -> CanaryWeight:
    return CanaryWeight(number, 2, weight, 0.03, Thresholds(
        interval=0.01, max_error_rate=0.01, min_requests=10, failure_limit=limit,
        on_inconclusive=quiet), "/metrics", smoke)


def _run(fake: FakeCanary, step: CanaryWeight, failures: int = 0) -> tuple[int, list[str]]:
    lines: list[str] = []
    found = run_canary_step(step, cast(RuntimeDriver, fake), fake.predict, lines.append, failures)
    return found, lines


def test_a_good_canary_passes_every_interval_at_its_weight(tmp_path: Path) -> None:
    fake = FakeCanary(ok=100, failed=0, state_dir=tmp_path)
    failures, lines = _run(fake, _step(weight=20))
    (tmp_path / JOURNAL_FILE).write_text("{}")  # while its apply runs, status shows it
    assert read_progress(tmp_path) == {"step": 1, "of": 2, "weight": 20, "requests": 100,
                                       "error_rate": 0.0, "p99_ms": None, "outcome": "pass",
                                       "left_s": 0.0}
    (tmp_path / JOURNAL_FILE).unlink()
    assert read_progress(tmp_path) is None
    assert failures == 0 and fake.weights == [20]
    assert len([line for line in lines if ": pass;" in line]) == 3
    assert "canary step 1/2 at 20%: 100 request(s), error rate 0%" in lines[1]


def test_a_bad_canary_aborts_naming_metric_value_threshold_and_step(tmp_path: Path) -> None:
    fake = FakeCanary(ok=75, failed=25, state_dir=tmp_path)
    with pytest.raises(CanaryAborted) as caught:
        _run(fake, _step(number=2, weight=50))
    message = caught.value.message
    assert fake.weights == [50, 0], "weight 0 at once, before the rollback"
    assert "at step 2 of 2 (50%)" in message
    assert "error rate 25% > 1%" in message


def test_failed_intervals_up_to_the_limit_are_tolerated(tmp_path: Path) -> None:
    fake = FakeCanary(ok=75, failed=25, state_dir=tmp_path)
    with pytest.raises(CanaryAborted, match="interval 3 failed, 2 tolerated"):
        _run(fake, _step(limit=2))  # three intervals, all failing: the third is one too many
    failures, _ = _run(FakeCanary(ok=75, failed=25, state_dir=tmp_path), _step(limit=5))
    assert failures == 3


def test_a_quiet_canary_stops_and_says_so(tmp_path: Path) -> None:
    with pytest.raises(CanaryAborted, match="inconclusive at step 1 of 2.*3 request"):
        _run(FakeCanary(ok=3, failed=0, state_dir=tmp_path), _step())


def test_smoke_traffic_makes_up_a_quiet_interval(tmp_path: Path) -> None:
    smoke = (("m", (SmokeTest(request={"instances": [1.0]}, expect={"predictions": [2.5]}),)),)
    fake = FakeCanary(ok=3, failed=0, state_dir=tmp_path)
    failures, lines = _run(fake, _step(quiet="smoke_traffic", smoke=smoke))
    assert failures == 0 and all("inconclusive" not in line for line in lines)


def test_an_aborted_canary_is_recorded_as_such() -> None:
    assert ApplyFailed("x", ["the container back"], aborted=True).outcome == "canary-aborted"
    assert ApplyFailed("x", ["NOT restored: y"], aborted=True).outcome == "failed"
