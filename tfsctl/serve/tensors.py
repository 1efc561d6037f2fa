"""TF Serving's JSON tensor formats for REST predict: row (`instances`) and columnar (`inputs`).

Row format: a list with one entry per example; with several inputs each entry
is an object keyed by input name. Columnar: one value per input (or the bare
value when the signature has one input). Answers mirror the request format:
`predictions` for rows, `outputs` for columns. Binary strings travel as
{"b64": "..."}.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from tfsctl.serve.loader import RunError


class FormatError(ValueError):
    """The body is not in TF Serving's format (HTTP 400)."""


def _decode_strings(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_strings(v) for v in value]
    return value.encode() if isinstance(value, str) else value


def to_array(value: Any, dtype: np.dtype, name: str) -> np.ndarray:
    try:
        if dtype == np.object_:
            return np.array(_decode_strings(value), dtype=object)
        return np.array(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise RunError(f"input {name}: {exc}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value] if value.ndim else _jsonable(value.item())
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")
    return value


def parse_request(body: dict[str, Any], input_dtypes: dict[str, np.dtype]
                  ) -> tuple[dict[str, np.ndarray], bool]:
    """(inputs by name, whether the row format was used)."""
    if "instances" in body and "inputs" in body:
        raise FormatError("Not formatted correctly expecting only one of 'inputs' or "
                          "'instances' keys exists")
    single = next(iter(input_dtypes)) if len(input_dtypes) == 1 else None
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise FormatError("Expecting 'instances' to be an list/array")
        if all(isinstance(i, dict) for i in instances) and (single is None or set(
                instances[0]) == {single}):
            columns: dict[str, list[Any]] = {}
            for instance in instances:
                if set(instance) != set(instances[0]):
                    raise FormatError("Expecting object to have the same keys in all instances")
                for key, value in instance.items():
                    columns.setdefault(key, []).append(value)
        elif single is not None:
            columns = {single: instances}
        else:
            raise FormatError("Expecting object with named inputs in every instance: the "
                              "signature has several inputs")
        return {k: to_array(v, input_dtypes.get(k, np.float32), k) for k, v in columns.items()}, True
    if "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict) and (single is None or set(inputs) == {single}):
            return {k: to_array(v, input_dtypes.get(k, np.float32), k) for k, v in inputs.items()}, False
        if single is None:
            raise FormatError("Expecting 'inputs' to be an object keyed by input name")
        return {single: to_array(inputs, input_dtypes[single], single)}, False
    raise FormatError("Missing 'inputs' or 'instances' key")


def format_response(outputs: dict[str, np.ndarray], row: bool) -> dict[str, Any]:
    if not row:
        if len(outputs) == 1:
            return {"outputs": _jsonable(next(iter(outputs.values())))}
        return {"outputs": {k: _jsonable(v) for k, v in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": _jsonable(next(iter(outputs.values())))}
    sizes = {v.shape[0] if v.ndim else None for v in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        raise RunError("Tensor with inconsistent batch sizes cannot be returned in row format")
    count = sizes.pop()
    return {"predictions": [{k: _jsonable(v[i]) for k, v in outputs.items()} for i in range(count)]}
