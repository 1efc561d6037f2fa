"""NumPy arrays to and from TensorProto, by the dtype and shape a signature declares.

The handler returns array-likes (nested lists, scalars, numpy arrays); the gateway makes
them the dtype the model's signature asks for, so a handler never has to know that
`dropout` is a float32 or `charinputs` an int32. TensorFlow's own converters would
import TensorFlow; these cover the dense dtypes a signature takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfsctl.protos import gateway_pb2

DT_STRING = 7

#: TensorFlow's DataType number -> the numpy dtype it is carried as
NUMPY: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.float32), 2: np.dtype(np.float64), 3: np.dtype(np.int32),
    4: np.dtype(np.uint8), 5: np.dtype(np.int16), 6: np.dtype(np.int8),
    DT_STRING: np.dtype(object), 9: np.dtype(np.int64), 10: np.dtype(np.bool_),
    17: np.dtype(np.uint16), 19: np.dtype(np.float16), 22: np.dtype(np.uint32),
    23: np.dtype(np.uint64),
}
#: the typed field a tensor carries its values in when it has no tensor_content
_VALUES = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val",
           6: "int_val", DT_STRING: "string_val", 9: "int64_val", 10: "bool_val",
           17: "int_val", 19: "half_val", 22: "uint32_val", 23: "uint64_val"}
_NAMES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8",
          DT_STRING: "string", 9: "int64", 10: "bool", 17: "uint16", 19: "float16",
          22: "uint32", 23: "uint64"}


def dtype_name(dtype: int) -> str:
    return _NAMES.get(dtype, f"DataType {dtype}")


def _shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def to_proto(value: Any, dtype: int, shape: Sequence[int] | None, where: str
             ) -> gateway_pb2.TensorProto:
    """`value` as a tensor of `dtype`; `shape` is the signature's (-1: any size; None:
    unknown rank). ValueError, naming `where` (model and input), for a value that is not
    one, since it comes from the request the handler was given."""
    if dtype not in NUMPY:
        raise ValueError(f"{where}: the signature's {dtype_name(dtype)} is not supported")
    try:
        array = np.asarray(value, dtype=NUMPY[dtype])
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{where}: not a {dtype_name(dtype)} tensor ({exc})") from None
    if shape is not None and (len(shape) != array.ndim or any(
            want not in (-1, got) for want, got in zip(shape, array.shape, strict=True))):
        raise ValueError(f"{where}: shape {_shape_text(array.shape)} does not match the "
                         f"signature's {_shape_text(shape)}")
    proto = gateway_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.dim.extend(gateway_pb2.TensorShapeProto.Dim(size=d) for d in array.shape)
    if dtype == DT_STRING:
        proto.string_val.extend(_as_bytes(v) for v in array.ravel())
    else:
        proto.tensor_content = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"),
                                                                  copy=False).tobytes()
    return proto


def from_proto(proto: gateway_pb2.TensorProto) -> np.ndarray:
    """The tensor TF Serving answered, as an array (bytes for strings)."""
    if proto.dtype not in NUMPY:
        raise ValueError(f"the model answered a {dtype_name(proto.dtype)} tensor, which the "
                         "gateway cannot read")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    dtype = NUMPY[proto.dtype]
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).reshape(shape)
    values: Any = list(getattr(proto, _VALUES[proto.dtype]))
    if proto.dtype == 19:  # halves travel as their 16 bits in int32s
        values = np.array(values, dtype=np.uint16).view(np.float16)
    flat = np.array(values, dtype=dtype)
    size = int(np.prod(shape))
    if flat.size == size:
        return flat.reshape(shape)
    # TF Serving sends a tensor of equal values as one value (or none, for zeros)
    return np.full(shape, flat[0] if flat.size else dtype.type(0), dtype=dtype)
