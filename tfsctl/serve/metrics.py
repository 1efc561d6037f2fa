"""Prometheus metrics (text format 0.0.4), served on the REST port when monitoring is on.

Names follow TF Serving's `:tensorflow:serving:` family where one exists,
rewritten to Prometheus' character set as TF Serving does.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from tfsctl.live.state import VersionState


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self._latency_count: dict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, model: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(model, method, status)] += 1
            self._latency_sum[(model, method)] += seconds
            self._latency_count[(model, method)] += 1

    def render(self, manager: object) -> str:
        lines = ["# TYPE :tensorflow:serving:request_count counter"]
        with self._lock:
            for (model, method, status), count in sorted(self._requests.items()):
                lines.append(f':tensorflow:serving:request_count{{model_name="{model}",'
                             f'entrypoint="REST",method="{method}",status="{status}"}} {count}')
            lines.append("# TYPE :tensorflow:serving:request_latency_seconds summary")
            for (model, method), total in sorted(self._latency_sum.items()):
                labels = f'model_name="{model}",method="{method}"'
                lines.append(f":tensorflow:serving:request_latency_seconds_sum{{{labels}}} {total:.6f}")
                lines.append(f":tensorflow:serving:request_latency_seconds_count{{{labels}}} "
                             f"{self._latency_count[(model, method)]}")
        lines.append("# TYPE :tensorflow:core:servable_state gauge")
        for slot in manager.models():  # type: ignore[attr-defined]
            for version in slot.versions.values():
                for state in (VersionState.AVAILABLE, VersionState.END):
                    value = int(version.state is state)
                    lines.append(f':tensorflow:core:servable_state{{model_name="{slot.name}",'
                                 f'version="{version.version}",state="{state.value}"}} {value}')
        return "\n".join(lines) + "\n"
