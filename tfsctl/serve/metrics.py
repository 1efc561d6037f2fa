"""Prometheus metrics (text format 0.0.4), served on the REST port when monitoring is on.

The request metrics are TF Serving's own, with its names, labels and units:
`:tensorflow:serving:request_count{model_name,status}` counts every request
by canonical status code, and `:tensorflow:serving:request_latency` is a
histogram in microseconds over TF Serving's buckets (10 * 1.8^i, 33 of
them) by `{model_name,API,entrypoint}`, recorded for successful requests
only, as TF Serving does. TF Serving exports no metric for version states;
`:tensorflow:serving:servable_state` (1 for the state a version is in) is
this server's addition for the same purpose.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import Any

from tfsctl.live.state import VersionState
from tfsctl.servingapi.status import Code

BUCKETS = [10 * 1.8 ** i for i in range(33)]
_STATES = [VersionState.START, VersionState.LOADING, VersionState.AVAILABLE, VersionState.UNLOADING,
           VersionState.END]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._latency: dict[tuple[str, str, str], list[int]] = {}
        self._latency_sum: dict[tuple[str, str, str], float] = defaultdict(float)

    def observe_request(self, model: str, api: str, entrypoint: str, code: Code,
                        seconds: float) -> None:
        with self._lock:
            self._counts[(model, code.name)] += 1
            if code is not Code.OK:
                return
            key = (model, api, entrypoint)
            micros = seconds * 1e6
            buckets = self._latency.setdefault(key, [0] * (len(BUCKETS) + 1))
            buckets[bisect.bisect_left(BUCKETS, micros)] += 1
            self._latency_sum[key] += micros

    def render(self, manager: Any) -> str:
        name = ":tensorflow:serving:request_count"
        lines = [f"# TYPE {name} counter"]
        with self._lock:
            for (model, status), count in sorted(self._counts.items()):
                lines.append(f"{name}{{{_labels(model_name=model, status=status)}}} {count}")
            name = ":tensorflow:serving:request_latency"
            lines.append(f"# TYPE {name} histogram")
            for (model, api, entrypoint), buckets in sorted(self._latency.items()):
                labels = _labels(model_name=model, API=api, entrypoint=entrypoint)
                total = 0
                for bound, count in zip([*BUCKETS, float("inf")], buckets, strict=True):
                    total += count
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f'{name}_bucket{{{labels},le="{le}"}} {total}')
                lines.append(f"{name}_sum{{{labels}}} {self._latency_sum[(model, api, entrypoint)]:g}")
                lines.append(f"{name}_count{{{labels}}} {total}")
        name = ":tensorflow:serving:servable_state"
        lines.append(f"# TYPE {name} gauge")
        for slot in manager.models():
            for version in sorted(slot.versions.values(), key=lambda v: v.version):
                for state in _STATES:
                    labels = _labels(model_name=slot.name, version=str(version.version),
                                     state=state.value)
                    lines.append(f"{name}{{{labels}}} {int(version.state is state)}")
        return "\n".join(lines) + "\n"
