"""The canary's analysis: figures parsed from TF Serving's metrics page, and the verdict on
one interval (pass, fail naming metric/value/threshold, inconclusive)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tfsctl.rollout.analysis import Outcome, judge
from tfsctl.rollout.figures import Counters, parse_metrics, with_proxy
from tfsctl.rollout.plan import CanaryPlan, Thresholds
from tfsctl.serve.metrics import Metrics
from tfsctl.servingapi.status import Code
from tfsctl.spec.rollout import Rollout

LIMITS = Thresholds(interval=1.0, max_error_rate=0.01, min_requests=50, failure_limit=0,
                    max_p99_latency_ms=500.0)


class _NoModels:
    def models(self) -> list[object]:
        return []


def _page(ok: int, failed: int, seconds: float = 0.002) -> str:
    """A metrics page as the compatible server renders it (TF Serving's names and labels)."""
    metrics = Metrics()
    for _ in range(ok):
        metrics.observe_request("m", "predict", "REST", Code.OK, seconds)
    for _ in range(failed):
        metrics.observe_request("m", "predict", "GRPC", Code.INVALID_ARGUMENT, seconds)
    return metrics.render(_NoModels())


def test_the_metrics_page_gives_requests_by_outcome_and_latency() -> None:
    found = parse_metrics(_page(ok=30, failed=5, seconds=0.002))
    assert (found.ok, found.failed, found.requests, found.errors) == (30, 5, 35, 5)
    assert 2.0 <= (found.quantile_ms(0.99) or 0) < 4.0  # the bucket holding 2ms


def test_lines_that_are_not_request_figures_are_ignored() -> None:
    text = ('# HELP x\n:tensorflow:serving:request_count{model_name="m",status="OK"} 4\n'
            'other_metric 9\n:tensorflow:serving:request_count{status="INTERNAL"} nan-ish\n'
            ':tensorflow:serving:request_count{model_name="a\\"b",status="INTERNAL"} 2\n')
    assert (parse_metrics(text).ok, parse_metrics(text).failed) == (4, 2)


def test_tfsctls_own_health_checks_are_not_requests() -> None:
    metrics = Metrics()
    for model in ("tfsctl-proxy-check", "tfsctl-ready-probe"):
        metrics.observe_request(model, "GetModelStatus", "REST", Code.NOT_FOUND, 0.001)
    metrics.observe_request("m", "predict", "REST", Code.OK, 0.001)
    found = parse_metrics(metrics.render(_NoModels()))
    assert (found.ok, found.failed) == (1, 0)


def test_an_interval_is_the_difference_of_two_readings() -> None:
    before, after = parse_metrics(_page(10, 1)), parse_metrics(_page(110, 3))
    interval = after.since(before)
    assert (interval.ok, interval.failed) == (100, 2)
    restarted = parse_metrics(_page(5, 0)).since(before)  # counters went down: from 0
    assert restarted.ok == 5


def test_the_proxy_counts_what_the_server_never_saw() -> None:
    refused = with_proxy(Counters(ok=90), requests=100, failed=10)
    assert (refused.requests, refused.errors) == (100, 10)


def test_a_good_canary_passes() -> None:
    verdict = judge(parse_metrics(_page(200, 0)), parse_metrics(_page(800, 0)), LIMITS)
    assert verdict.outcome is Outcome.PASS


def test_a_failing_canary_names_metric_value_and_threshold() -> None:
    verdict = judge(Counters(ok=80, failed=20), Counters(ok=400), LIMITS)
    assert verdict.outcome is Outcome.FAIL
    assert (verdict.metric, verdict.value, verdict.threshold) == ("error rate", 0.2, 0.01)
    assert "error rate 20% > 1%" in verdict.reason


def test_clients_bad_requests_on_both_sides_do_not_fail_a_good_canary() -> None:
    verdict = judge(Counters(ok=90, failed=10), Counters(ok=360, failed=40), LIMITS)
    assert verdict.outcome is Outcome.PASS


def test_a_quiet_stable_is_no_baseline() -> None:
    verdict = judge(Counters(ok=90, failed=10), Counters(ok=1, failed=9), LIMITS)
    assert verdict.outcome is Outcome.FAIL and verdict.stable_error_rate == 0.0


def test_too_few_requests_is_inconclusive_never_a_pass() -> None:
    verdict = judge(Counters(ok=49), Counters(ok=1000), LIMITS)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "49 request(s)" in verdict.reason


def test_a_slow_canary_fails_on_p99() -> None:
    slow = parse_metrics(_page(100, 0, seconds=1.5))
    verdict = judge(slow, None, LIMITS)
    assert verdict.outcome is Outcome.FAIL and verdict.metric == "p99 latency"
    assert verdict.value > 500 and verdict.threshold == 500


@given(ok=st.integers(0, 10_000), failed=st.integers(0, 10_000),
       stable_ok=st.integers(0, 10_000), stable_failed=st.integers(0, 10_000),
       rate=st.floats(0, 1))
def test_the_verdict_follows_the_rule(ok: int, failed: int, stable_ok: int, stable_failed: int,
                                      rate: float) -> None:
    limits = Thresholds(interval=1, max_error_rate=rate, min_requests=50, failure_limit=0)
    canary, stable = Counters(ok=ok, failed=failed), Counters(ok=stable_ok, failed=stable_failed)
    verdict = judge(canary, stable, limits)
    if ok + failed < 50:
        assert verdict.outcome is Outcome.INCONCLUSIVE
        return
    baseline = stable_failed / (stable_ok + stable_failed) if stable_ok + stable_failed >= 50 else 0
    too_many = failed / (ok + failed) > min(1.0, baseline + rate)
    assert verdict.outcome is (Outcome.FAIL if too_many else Outcome.PASS)


@given(st.lists(st.integers(1, 10**7), min_size=1, max_size=200))
def test_p99_is_a_bucket_bound_at_or_above_the_true_one(micros: list[int]) -> None:
    metrics = Metrics()
    for value in micros:
        metrics.observe_request("m", "predict", "REST", Code.OK, value / 1e6)
    found = parse_metrics(metrics.render(_NoModels())).quantile_ms(0.99)
    true = sorted(micros)[math.ceil(0.99 * len(micros)) - 1] / 1000
    assert found is not None and found >= true


def test_the_plan_says_the_canary_in_words() -> None:
    rollout = Rollout.model_validate({"strategy": "canary", "steps": [
        {"weight": 20, "pause": "30s"}, {"weight": 50, "pause": "30s"}]})
    text = CanaryPlan.of(rollout).describe()
    assert text.startswith("canary 20% for 30s, 50% for 30s, then 100%; abort if error rate > 1%")
    assert "fewer than 50 requests" in text and ": stop" in text
    assert CanaryPlan.of(rollout).thresholds.intervals(30.0) == 3
