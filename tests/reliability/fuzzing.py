"""How much the generated-input (hypothesis) suites run, and the checks every case passes.

Two modes, chosen by the environment:

* default: each generated test stops taking new cases after `TFSCTL_FUZZ_SECONDS` seconds
  (default 10) or `SHORT_EXAMPLES` cases, whichever comes first, so the whole suite costs
  a minute or two in the normal run;
* `TFSCTL_FUZZ=long`: no time box, and enough cases that every target (validate, render,
  plan, import) sees at least `LONG_CASES_PER_TARGET`.

The time box decides only how many cases run, never whether one passes: a case fails on
an internal error, a hang (a generous deadline, `HANG_SECONDS`) or a jump in the process's
peak memory (`MAX_GROWTH_MB`), never on being slow.
"""

from __future__ import annotations

import os
import resource
import time

from hypothesis import HealthCheck, settings

LONG = os.environ.get("TFSCTL_FUZZ", "").lower() == "long"
SECONDS = float(os.environ.get("TFSCTL_FUZZ_SECONDS", "10"))
SHORT_EXAMPLES = 300
LONG_CASES_PER_TARGET = 10_000
#: A command running this long is hung (the slowest legitimate case takes about a second).
HANG_SECONDS = 60
#: Growth of the process's peak memory in one case that counts as a blow-up.
MAX_GROWTH_MB = 400


def fuzz_settings(share: float = 1.0) -> settings:
    """Settings for a generated test; `share` is its part of the long mode's cases for its
    targets (the shares of the tests feeding one target add up to at least 1)."""
    examples = int(LONG_CASES_PER_TARGET * share) + 1 if LONG else SHORT_EXAMPLES
    return settings(max_examples=examples, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Budget:
    """A generated test's time box: `spent()` is true once it has had its seconds (never in
    long mode); the test then lets the remaining cases pass without running them."""

    def __init__(self) -> None:
        self.started: float | None = None

    def spent(self) -> bool:
        if LONG:
            return False
        now = time.monotonic()
        if self.started is None:
            self.started = now
        return now - self.started > SECONDS


def peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


class MemoryWatch:
    """Fails a case whose run raised the process's peak memory by more than MAX_GROWTH_MB."""

    def __enter__(self) -> MemoryWatch:
        self.before = peak_mb()
        return self

    def __exit__(self, *exc: object) -> None:
        grown = peak_mb() - self.before
        assert grown <= MAX_GROWTH_MB, f"peak memory grew by {grown} MB in one case"
