"""One instance's request figures, as counters read at one moment (pure parsing).

TF Serving exports `:tensorflow:serving:request_count{model_name,status}` (every
request, by canonical status: gRPC errors that reach the client as HTTP/2 200 with
a `grpc-status` trailer are counted here, under their status) and
`:tensorflow:serving:request_latency` (a histogram in microseconds, successful
requests only). HAProxy's `show stat` adds what the server never saw: connections
refused or reset, and 5xx answers of its own. Counters only ever grow, so an
interval's figures are the difference of two readings (`Counters.since`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tfsctl.endpoints import PROBE_MODELS

_SAMPLE = re.compile(r'^(?P<name>[^\s{]+)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_COUNT = ":tensorflow:serving:request_count"
_BUCKET = ":tensorflow:serving:request_latency_bucket"


@dataclass(frozen=True)
class Counters:
    """An instance's cumulative figures: requests by outcome, the latency histogram
    (upper bound in microseconds -> requests at or under it), and the proxy's errors."""

    ok: int = 0
    failed: int = 0
    latency: tuple[tuple[float, int], ...] = ()
    #: requests the proxy sent this instance, and those it failed on its own (connection
    #: errors, its own 5xx); 0 when the proxy was not read
    proxy_requests: int = 0
    proxy_failed: int = 0
    #: whether the instance's metrics answered (False: only the proxy's figures are known)
    answered: bool = True

    def since(self, earlier: Counters) -> Counters:
        """The figures of the interval from `earlier` to these (a counter that went down,
        from a restarted instance, counts from 0)."""
        def delta(now: int, before: int) -> int:
            return now - before if now >= before else now

        before = dict(earlier.latency)
        return Counters(
            ok=delta(self.ok, earlier.ok), failed=delta(self.failed, earlier.failed),
            latency=tuple((le, delta(n, before.get(le, 0))) for le, n in self.latency),
            proxy_requests=delta(self.proxy_requests, earlier.proxy_requests),
            proxy_failed=delta(self.proxy_failed, earlier.proxy_failed),
            answered=self.answered and earlier.answered)

    @property
    def requests(self) -> int:
        """Every request the instance had: the larger of its own count and the proxy's."""
        return max(self.ok + self.failed, self.proxy_requests)

    @property
    def errors(self) -> int:
        """Failed requests: the larger of the server's count and the proxy's (a request the
        server failed with a 5xx is in both, a refused connection only in the proxy's)."""
        return min(max(self.failed, self.proxy_failed), self.requests)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def quantile_ms(self, q: float) -> float | None:
        """The upper bound of the bucket holding quantile `q` of the successful requests, in
        milliseconds (None without any; infinity past the last bucket)."""
        total = max((n for _, n in self.latency), default=0)
        if total == 0:
            return None
        rank = math.ceil(q * total)
        for le, n in sorted(self.latency):
            if n >= rank:
                return le / 1000.0
        return math.inf


def _labels(text: str | None) -> dict[str, str]:
    return {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(text or "")}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_metrics(text: str) -> Counters:
    """The request figures in a Prometheus text page, summed over models and APIs (but the
    health checks of tfsctl's proxy and drivers, which ask a model no server has)."""
    ok = failed = 0
    buckets: dict[float, int] = {}
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found is None or line.startswith("#"):
            continue
        value = _number(found.group("value"))
        if value is None or value < 0:
            continue
        labels = _labels(found.group("labels"))
        if labels.get("model_name") in PROBE_MODELS:
            continue  # tfsctl's own health checks, not clients' requests
        if found.group("name") == _COUNT:
            if labels.get("status", "OK") == "OK":
                ok += int(value)
            else:
                failed += int(value)
        elif found.group("name") == _BUCKET and "le" in labels:
            le = math.inf if labels["le"] == "+Inf" else _number(labels["le"])
            if le is not None:
                buckets[le] = buckets.get(le, 0) + int(value)
    return Counters(ok=ok, failed=failed, latency=tuple(sorted(buckets.items())))


def with_proxy(counters: Counters, requests: int, failed: int) -> Counters:
    """`counters` with the proxy's figures for the same instance."""
    return Counters(counters.ok, counters.failed, counters.latency, requests, failed,
                    counters.answered)


#: An instance whose metrics did not answer: only the proxy's figures count.
UNANSWERED = Counters(answered=False)
