"""Smoke requests: after a change, ask the server and compare its answer.

`expect` is a subset of the answer: every key it names must be there, lists
must have the same length, and numbers must agree within the tolerance (models
are numeric; exact float equality would make smoke tests flaky across CPUs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tfsctl.spec.model_spec import SmokeTest


def mismatch(expected: Any, actual: Any, tolerance: float, at: str = "") -> str | None:
    """None when `actual` satisfies `expected`, else where and how it differs."""
    where = at or "answer"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {type(actual).__name__}"
        for key, value in expected.items():
            if key not in actual:
                return f"{where}: missing key {key!r}"
            found = mismatch(value, actual[key], tolerance, f"{at}.{key}" if at else key)
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected {len(expected)} items, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            found = mismatch(e, a, tolerance, f"{at}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(actual, (int, float)) and not isinstance(actual, bool) and math.isclose(
                float(actual), float(expected), rel_tol=tolerance, abs_tol=tolerance):
            return None
        return f"{where}: expected {expected!r} (±{tolerance:g}), got {actual!r}"
    return None if expected == actual else f"{where}: expected {expected!r}, got {actual!r}"


@dataclass(frozen=True)
class SmokeResult:
    model: str
    name: str
    ok: bool
    detail: str = ""


Predict = Callable[[str, dict[str, Any], int | None, str | None], dict[str, Any]]


def run_smoke(model: str, tests: Iterable[SmokeTest], predict: Predict) -> list[SmokeResult]:
    """Run a model's smoke tests through `predict(model, body, version, label)`."""
    return [_one(model, test, test.name or f"smoke[{i}]", predict) for i, test in enumerate(tests)]


def _one(model: str, test: SmokeTest, name: str, predict: Predict) -> SmokeResult:
    try:
        answer = predict(model, test.request, test.version, test.label)
    except Exception as exc:  # noqa: BLE001 - any failure to get an answer fails the test
        return SmokeResult(model, name, False, f"request failed: {exc}")
    problem = mismatch(test.expect, answer, test.tolerance)
    return SmokeResult(model, name, problem is None, problem or "")
