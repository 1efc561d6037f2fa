"""Output tensors as TF Serving writes them into a PredictResponse.

TF Serving's predict_util.cc fills each output with `Tensor::AsProtoField`
(the typed repeated field of its dtype: `float_val`, `int_val`, ...), or, with
`--enable_serialization_as_tensor_content`, with `AsProtoTensorContent` (the
raw little-endian values in `tensor_content`; strings as TF's EncodeStringList:
every length as a varint, then the bytes). Clients read one or the other
(`outputs["y"].float_val` is the common TF Serving client code), so the field
depends on the flag alone, never on the output's size or shape.

Typed fields of fixed width are appended as one packed field parsed by
protobuf (`MergeFromString`): a copy of the array's bytes, not a Python object
per value. The others are appended in slices, so that what is held beside the
answer stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfsctl.tfenv import import_tensorflow

tf = import_tensorflow()

#: DataType -> (AsProtoField's field, its number, numpy dtype on the wire for fixed-width
#: packed fields, or None for varint fields)
_FIELDS: dict[int, tuple[str, int, str | None]] = {
    1: ("float_val", 5, "<f4"), 2: ("double_val", 6, "<f8"),
    3: ("int_val", 7, None), 4: ("int_val", 7, None), 5: ("int_val", 7, None),
    6: ("int_val", 7, None), 17: ("int_val", 7, None),  # int32, uint8, int16, int8, uint16
    9: ("int64_val", 10, None), 10: ("bool_val", 11, None),
    19: ("half_val", 13, None), 14: ("half_val", 13, None),  # half, bfloat16: their bits
    8: ("scomplex_val", 9, "<f4"), 18: ("dcomplex_val", 12, "<f8"),
    22: ("uint32_val", 16, None), 23: ("uint64_val", 17, None),
}
_SLICE = 1 << 16


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def fill(proto: Any, value: np.ndarray, as_content: bool) -> None:
    """Write `value` into the (empty) TensorProto `proto`."""
    dtype = tf.dtypes.as_dtype(value.dtype)
    proto.dtype = dtype.as_datatype_enum
    for size in value.shape:
        proto.tensor_shape.dim.add(size=size)
    if value.size == 0:
        return
    flat = value.reshape(-1)
    if dtype == tf.string:
        items = [item if isinstance(item, bytes) else str(item).encode() for item in flat]
        if as_content:
            proto.tensor_content = b"".join(_varint(len(item)) for item in items) + b"".join(items)
        else:
            proto.string_val.extend(items)
        return
    if as_content:
        proto.tensor_content = flat.astype(flat.dtype.newbyteorder("<"), copy=False).tobytes()
        return
    name, number, wire = _FIELDS[proto.dtype]
    if wire is not None:
        data = flat.view(np.float32 if wire == "<f4" else np.float64) if flat.dtype.kind == "c" \
            else flat
        raw = np.ascontiguousarray(data.astype(wire, copy=False))
        proto.MergeFromString(b"".join((_varint(number << 3 | 2), _varint(raw.nbytes), raw.data)))
        return
    if dtype in (tf.float16, tf.bfloat16):
        flat = flat.view(np.uint16)
    field = getattr(proto, name)
    for start in range(0, flat.size, _SLICE):
        field.extend(flat[start:start + _SLICE].tolist())
