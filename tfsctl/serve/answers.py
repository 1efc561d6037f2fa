"""TF Serving's JSON answers: predictions, classification and regression results, errors.

Floats are written as TF Serving writes them (shortest form that reads back
as the same float32, `NaN`/`Infinity` bare), so float32 noise digits never
appear; an output is base64-encoded only when its alias ends in `_bytes`.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tfsctl.servingapi.status import invalid

_SLICE = 1 << 16
_SMALL = 256


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


def _floats(values: np.ndarray) -> list[str]:
    """decimal() of every value, a slice at a time: %g, read back all at once, and full
    precision only where %g does not read back as the same value."""
    single = values.dtype.itemsize <= 4
    texts = list(map("%g".__mod__, values.tolist()))
    back = np.array(texts, dtype=np.float64)
    differs = (back.astype(np.float32) != values) if single else (back != values)
    for index in np.flatnonzero(differs & np.isfinite(values)):
        texts[index] = f"{float(values[index]):.{9 if single else 17}g}"
    texts = [t if "." in t or "e" in t else t + ".0" for t in texts]
    for index in np.flatnonzero(~np.isfinite(values)):
        texts[index] = decimal(float(values[index]), single)
    return texts


def _tensor_json(array: np.ndarray, alias: str) -> str:
    """The tensor as nested JSON lists, written a slice of values at a time, so that what
    is held beside the answer's text is bounded (never a Python object per value)."""
    leaf = _leaf_writer(array, array.dtype.kind == "O" and alias.endswith("_bytes"))
    if array.size <= _SMALL:  # a few values: numpy's per-slice calls would cost more
        return _write(array.tolist(), leaf)
    flat = array.reshape(-1)
    # between values i-1 and i: close and reopen as many lists as dims that restart at i
    strides = [math.prod(array.shape[j:]) for j in range(1, array.ndim)]
    separators = np.array(["]" * k + ", " + "[" * k for k in range(array.ndim)], dtype=object)
    parts = ["[" * array.ndim]
    for start in range(0, flat.size, _SLICE):
        chunk = flat[start:start + _SLICE]
        texts = _floats(chunk) if chunk.dtype.kind == "f" else [leaf(v) for v in chunk.tolist()]
        if array.ndim == 1:
            parts.append((", " if start else "") + ", ".join(texts))
            continue
        index = np.arange(start, start + chunk.size)
        restarts = sum(((index % stride) == 0).astype(np.int64) for stride in strides)
        between = separators[restarts]
        if start == 0:
            between[0] = ""
        parts.append("".join(itertools.chain.from_iterable(zip(between, texts, strict=True))))
    parts.append("]" * array.ndim)
    return "".join(parts)


def format_predict(outputs: Mapping[str, np.ndarray], row: bool) -> str:
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    several = len(outputs) > 1
    if not row:
        parts = {name: _tensor_json(np.asarray(v), name) for name, v in outputs.items()}
        if not several:
            return '{"outputs": ' + next(iter(parts.values())) + "}"
        return '{"outputs": {' + ", ".join(f"{json.dumps(k)}: {v}" for k, v in parts.items()) + "}}"
    if not several:
        name, value = next(iter(outputs.items()))
        if np.ndim(value) == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        # one output: the rows joined are the whole tensor's JSON
        return '{"predictions": ' + _tensor_json(np.asarray(value), name) + "}"
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
        items.append("{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in cells.items()) + "}")
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
