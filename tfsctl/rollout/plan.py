"""A canary as a plan holds it: its steps and the thresholds each interval is judged by.

Plain frozen data made from the spec's `rollout:` (tfsctl/spec/rollout.py), so a saved
plan carries the whole canary and apply re-reads nothing from the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfsctl.spec.rollout import Rollout, format_duration


@dataclass(frozen=True)
class Thresholds:
    """What each interval of a canary is judged by."""

    interval: float
    max_error_rate: float
    min_requests: int
    failure_limit: int
    max_p99_latency_ms: float | None = None
    #: `stop` or `smoke_traffic` (send the smoke requests to the canary to make up a quiet
    #: interval's requests)
    on_inconclusive: str = "stop"

    def intervals(self, pause: float) -> int:
        """How many intervals a step of `pause` seconds is judged in (at least one)."""
        return max(1, int(pause / self.interval + 1e-9))


@dataclass(frozen=True)
class CanaryPlan:
    """The steps of a canary (weight in percent, pause in seconds) and its thresholds."""

    steps: tuple[tuple[int, float], ...]
    thresholds: Thresholds

    @classmethod
    def of(cls, rollout: Rollout) -> CanaryPlan:
        analysis = rollout.analysis
        return cls(tuple((s.weight, s.pause) for s in rollout.canary_steps), Thresholds(
            analysis.interval, analysis.max_error_rate, analysis.min_requests,
            analysis.failure_limit, analysis.max_p99_latency_ms, rollout.on_inconclusive))

    def describe(self) -> str:
        """`canary 20% for 30s, 50% for 30s, then 100%; abort if error rate > 1%`."""
        t = self.thresholds
        steps = ", ".join(f"{weight}% for {format_duration(pause)}" for weight, pause in self.steps)
        limits = [f"error rate > {t.max_error_rate * 100:.4g}%"]
        if t.max_p99_latency_ms is not None:
            limits.append(f"p99 > {t.max_p99_latency_ms:g}ms")
        tolerated = f" in more than {t.failure_limit} interval(s)" if t.failure_limit else ""
        quiet = ("stop" if t.on_inconclusive == "stop"
                 else "send the smoke requests to the canary to make up the rest")
        return (f"canary {steps}, then 100%; abort if {' or '.join(limits)}{tolerated} "
                f"(error rate over stable's own; judged every {format_duration(t.interval)}; fewer than "
                f"{t.min_requests} requests on the canary in an interval: {quiet})")
