"""Judge one interval of a canary: pass, fail (metric, value, threshold) or inconclusive.

Pure: it takes the interval's figures of both instances (`figures.Counters.since`)
and the plan's thresholds. The canary's error rate is compared with the threshold
*over stable's own rate in the same interval*, so clients sending bad requests
(which fail on stable too) do not abort a good canary; stable's rate counts only
when stable had enough requests to say anything. Too few requests on the canary
is inconclusive, never a pass: a quiet endpoint proves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tfsctl.rollout.figures import Counters
from tfsctl.rollout.plan import Thresholds


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """An interval's outcome; for a failure, which metric broke which threshold."""

    outcome: Outcome
    requests: int
    error_rate: float
    p99_ms: float | None
    stable_error_rate: float | None = None
    metric: str = ""
    value: float = 0.0
    threshold: float = 0.0

    @property
    def reason(self) -> str:
        """`error rate 12.5% > 1% (stable 0%)`, `p99 640ms > 500ms`, `12 requests < 50`."""
        if self.outcome is Outcome.INCONCLUSIVE:
            return (f"{self.requests} request(s) on the canary, fewer than the {self.threshold:g} "
                    "an interval needs")
        if self.outcome is Outcome.PASS:
            return "within the thresholds"
        if self.metric == "error rate":
            stable = f"{(self.stable_error_rate or 0) * 100:.3g}%"
            return (f"error rate {self.value * 100:.3g}% > {self.threshold * 100:.3g}% "
                    f"(the threshold over stable's {stable})")
        return f"{self.metric} {self.value:g}ms > {self.threshold:g}ms"


def judge(canary: Counters, stable: Counters | None, limits: Thresholds) -> Verdict:
    """The verdict on one interval of `canary` (and `stable` beside it, if it was read)."""
    rate, p99 = canary.error_rate, canary.quantile_ms(0.99)
    baseline = (stable.error_rate if stable is not None
                and stable.requests >= limits.min_requests else 0.0)
    stable_rate = baseline if stable is not None else None

    def verdict(outcome: Outcome, metric: str = "", value: float = 0.0,
                threshold: float = 0.0) -> Verdict:
        return Verdict(outcome, canary.requests, rate, p99, stable_rate, metric, value, threshold)

    if canary.requests < limits.min_requests:
        return verdict(Outcome.INCONCLUSIVE, "requests", canary.requests, limits.min_requests)
    allowed = min(1.0, baseline + limits.max_error_rate)
    if rate > allowed:
        return verdict(Outcome.FAIL, "error rate", rate, allowed)
    if limits.max_p99_latency_ms is not None and p99 is not None \
            and p99 > limits.max_p99_latency_ms:
        return verdict(Outcome.FAIL, "p99 latency", p99, limits.max_p99_latency_ms)
    return verdict(Outcome.PASS)
