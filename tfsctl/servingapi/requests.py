"""TF Serving's JSON formats for the REST API, with its strictness and its messages.

Predict takes the row format (`instances`: one entry per example, objects
keyed by input name when the signature has several inputs) or the columnar
format (`inputs`); answers mirror it (`predictions` / `outputs`). Values are
checked against the signature's dtype the way TF Serving's json_tensor.cc
checks them: no coercion (a string is not a float, a bool is not a number),
dense lists only, every instance of the same shape. Binary strings travel as
{"b64": "..."}. jsonvalues.py reads the JSON, examples.py has classify and
regress, and tfsctl/serve/answers.py writes the answers. What a request may hold
is bounded by limits.RequestLimits, checked on the JSON value's shape before a
tensor is allocated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tfsctl.servingapi.jsonvalues import b64decode, debug, double, format_error, is_b64, type_name
from tfsctl.servingapi.limits import DEFAULT_LIMITS, MAX_RANK, RequestLimits
from tfsctl.servingapi.status import Code, ServingError, invalid

# DataType enum values (tensorflow/core/framework/types.proto) -> (TF's name, numpy dtype)
DTYPES: dict[int, tuple[str, Any]] = {
    1: ("float", np.float32), 2: ("double", np.float64), 3: ("int32", np.int32),
    4: ("uint8", np.uint8), 5: ("int16", np.int16), 6: ("int8", np.int8),
    7: ("string", object), 9: ("int64", np.int64), 10: ("bool", np.bool_),
    22: ("uint32", np.uint32), 23: ("uint64", np.uint64),
}
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_RANGES = {3: _INT32, 4: _INT32, 5: _INT32, 6: _INT32, 9: (-(2 ** 63), 2 ** 63 - 1),
           22: (0, 2 ** 32 - 1), 23: (0, 2 ** 64 - 1)}
def dtype_name(dtype: int) -> str:
    return DTYPES.get(dtype, (f"type {dtype}", None))[0]


# ------------------------------------------------------------------ predict requests


def _leaf(value: Any, dtype: int) -> Any:
    if isinstance(value, dict):
        if dtype == 7:
            return b64decode(value)
        raise _type_error(value, dtype)
    if dtype not in DTYPES:
        raise ServingError(Code.UNIMPLEMENTED, f"Conversion of JSON Value: {debug(value)} to "
                                               f"type: {dtype_name(dtype)}")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype in (1, 2):
        ok = is_number
        value = double(value) if ok and isinstance(value, int) else value
    elif dtype == 7:
        ok = isinstance(value, str)
        value = value.encode() if ok else value
    elif dtype == 10:
        ok = isinstance(value, bool)
    else:
        low, high = _RANGES[dtype]
        ok = is_number and isinstance(value, int) and low <= value <= high
    if not ok:
        raise _type_error(value, dtype)
    return value


def _type_error(value: Any, dtype: int) -> ServingError:
    return invalid(f"JSON Value: {debug(value)} Type: {type_name(value)} is not of expected "
                   f"type: {dtype_name(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _fill(value: Any, level: int, shape: list[int], dtype: int, out: list[Any]) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid(f"JSON Value: {debug(value)} found at incorrect level: {level + 1} in "
                          f"the JSON DOM. Expected at level: {len(shape)}")
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} "
                      f"expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _itemsize(dtype: int) -> int:
    numpy_type = DTYPES.get(dtype, (None, np.uint8))[1]
    return np.dtype(numpy_type).itemsize


def to_tensor(value: Any, dtype: int) -> np.ndarray:
    """One JSON value (scalar or nested dense list) as a tensor of `dtype`."""
    shape = _dense_shape(value)
    if len(shape) > MAX_RANK:
        raise invalid(f"JSON Value: {debug(value)} has {len(shape)} dimensions; at most "
                      f"{MAX_RANK} are supported")
    values: list[Any] = []
    _fill(value, 0, shape, dtype, values)
    array = np.empty(len(values), dtype=DTYPES[dtype][1])
    array[:] = values
    return array.reshape(shape)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def _columns(instances: list[Any], dtypes: Mapping[str, int]) -> dict[str, list[Any]] | None:
    """The row format as one JSON value per input (None when the rows are not uniform objects
    or plain values: the row-by-row pass then words the error)."""
    if not _is_object(instances[0]):
        if any(_is_object(item) for item in instances):
            return None
        return {next(iter(dtypes)): instances}
    names = set(dtypes)
    if not all(_is_object(item) and item.keys() == names for item in instances):
        return None
    return {name: [item[name] for item in instances] for name in dtypes}


def _from_instances(instances: list[Any], dtypes: Mapping[str, int], limits: RequestLimits
                    ) -> dict[str, np.ndarray]:
    if not isinstance(instances[0], dict) and len(dtypes) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input "
                      "tensors required as per tensorinfo_map")
    columns = _columns(instances, dtypes)
    if columns is not None:
        # The declared size (the rows times the first row's shape) is checked before any
        # tensor exists; then each input is read in one pass into one array.
        limits.check_tensors((name, _dense_shape(value), _itemsize(dtypes[name]))
                             for name, value in columns.items())
        try:
            return {name: to_tensor(value, dtypes[name]) for name, value in columns.items()}
        except ServingError:
            pass  # the row-by-row pass below reports it with TF Serving's words
    return _rows(instances, dtypes)


def _rows(instances: list[Any], dtypes: Mapping[str, int]) -> dict[str, np.ndarray]:
    is_object = _is_object
    objects = is_object(instances[0])
    rows: dict[str, list[np.ndarray]] = {}

    def add(value: Any, name: str) -> None:
        if name not in dtypes:
            raise invalid(f"JSON object: does not have named input: {name}")
        tensor = to_tensor(value, dtypes[name])
        if rows.get(name):
            first = rows[name][0]
            if first.size != tensor.size:
                raise invalid(f"Expecting tensor size: {first.size} but got: {tensor.size}")
            if first.shape != tensor.shape:
                raise invalid(f"Expecting shape {_shape_text(first.shape)} but got: "
                              f"{_shape_text(tensor.shape)}")
        rows.setdefault(name, []).append(tensor)

    for index, item in enumerate(instances):
        if objects:
            if not is_object(item):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for name, value in item.items():
                try:
                    add(value, name)
                except ServingError as exc:
                    raise invalid(f"Failed to process element: {index} key: {name} of 'instances' "
                                  f"list. Error: {exc.with_code()}") from None
            if set(item) != set(dtypes):
                raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                              f"{debug(item)} keys must be equal to: {','.join(sorted(dtypes))}")
        else:
            if is_object(item):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(item, next(iter(dtypes)))
            except ServingError as exc:
                raise invalid(f"Failed to process element: {index} of 'instances' list. Error: "
                              f"{exc.with_code()}") from None
    return {name: np.stack(tensors) for name, tensors in rows.items()}


def _from_inputs(value: Any, dtypes: Mapping[str, int], limits: RequestLimits
                 ) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_b64(value):
        if len(dtypes) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input "
                          "tensors required as per tensorinfo_map")
        columns = {next(iter(dtypes)): value}
    else:
        for name in dtypes:
            if name not in value:
                raise invalid(f"Missing named input: {name} in 'inputs' object.")
        columns = {name: value[name] for name in dtypes}
    limits.check_tensors((name, _dense_shape(value), _itemsize(dtypes[name]))
                         for name, value in columns.items())
    return {name: to_tensor(value, dtypes[name]) for name, value in columns.items()}


def parse_predict(doc: dict[str, Any], dtypes: Mapping[str, int], signature: str,
                  limits: RequestLimits = DEFAULT_LIMITS) -> tuple[dict[str, np.ndarray], bool]:
    """(inputs by alias, whether the row format was used). `dtypes`: the signature's inputs."""
    if not dtypes:
        raise invalid(f"Failed to get input map for signature: {signature or 'DEFAULT'}")
    if "instances" in doc and "inputs" in doc:
        raise format_error(doc, "Not formatted correctly expecting only one of 'inputs' or "
                                 "'instances' keys to exist ")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise format_error(doc, "No values in 'instances' array")
        return _from_instances(instances, dtypes, limits), True
    if "inputs" in doc:
        return _from_inputs(doc["inputs"], dtypes, limits), False
    raise invalid("Missing 'inputs' or 'instances' key")


