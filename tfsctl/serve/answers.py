"""TF Serving's JSON answers: predictions, classification and regression results, errors.

Floats are written as TF Serving writes them (shortest form that reads back
as the same float32, `NaN`/`Infinity` bare), so float32 noise digits never
appear; an output is base64-encoded only when its alias ends in `_bytes`.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tfsctl.servingapi.status import invalid


def decimal(value: float, single: bool) -> str:
    """A float as TF Serving writes it: %g, or full precision if %g does not read back."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    same: Callable[[str], bool] = ((lambda t: np.float32(t) == np.float32(value)) if single
                                   else (lambda t: float(t) == value))
    text = f"{value:g}"
    if not same(text):
        text = f"{value:.{9 if single else 17}g}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _leaf_writer(array: np.ndarray, as_bytes: bool) -> Callable[[Any], str]:
    kind = array.dtype.kind
    if kind == "f":
        single = array.dtype.itemsize <= 4
        return lambda v: decimal(float(v), single)
    if kind == "b":
        return lambda v: "true" if v else "false"
    if kind in "iu":
        return lambda v: str(int(v))
    if as_bytes:
        return lambda v: '{"b64": ' + json.dumps(base64.b64encode(v).decode()) + "}"
    return lambda v: json.dumps(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v),
                                ensure_ascii=False)


def _write(value: Any, leaf: Callable[[Any], str]) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_write(v, leaf) for v in value) + "]"
    return leaf(value)


def _tensor_json(array: np.ndarray, alias: str) -> str:
    leaf = _leaf_writer(array, array.dtype.kind == "O" and alias.endswith("_bytes"))
    return _write(array.tolist(), leaf)


def format_predict(outputs: Mapping[str, np.ndarray], row: bool) -> str:
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    several = len(outputs) > 1
    if not row:
        parts = {name: _tensor_json(np.asarray(v), name) for name, v in outputs.items()}
        if not several:
            return '{"outputs": ' + next(iter(parts.values())) + "}"
        return '{"outputs": {' + ", ".join(f"{json.dumps(k)}: {v}" for k, v in parts.items()) + "}}"
    batch = -1
    for name, value in outputs.items():
        if np.ndim(value) == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        size = np.shape(value)[0]
        if batch >= 0 and size != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {size} expecting: {batch}")
        batch = size
    items = []
    for index in range(batch):
        cells = {name: _tensor_json(np.array(np.asarray(v)[index], dtype=np.asarray(v).dtype), name)
                 for name, v in outputs.items()}
        if several:
            items.append("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in cells.items()) + "}")
        else:
            items.append(next(iter(cells.values())))
    return '{"predictions": [' + ", ".join(items) + "]}"


def format_classify(rows: list[list[tuple[str, float]]]) -> str:
    if not rows:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    return '{"results": [' + ", ".join(
        "[" + ", ".join(f"[{json.dumps(label, ensure_ascii=False)}, {decimal(score, True)}]"
                        for label, score in row) + "]" for row in rows) + "]}"


def format_regress(values: list[float]) -> str:
    if not values:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(decimal(v, True) for v in values) + "]}"


def error_json(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)
