"""Output tensors as TF Serving writes them into a PredictResponse.

TF Serving's predict_util.cc fills each output with `Tensor::AsProtoField`
(the typed repeated field of its dtype: `float_val`, `int_val`, ...), or, with
`--enable_serialization_as_tensor_content`, with `AsProtoTensorContent` (the
raw little-endian values in `tensor_content`; strings as TF's EncodeStringList:
every length as a varint, then the bytes). Clients read one or the other
(`outputs["y"].float_val` is the common TF Serving client code), so the field
depends on the flag alone, never on the output's size or shape.

The answer is written straight to the wire (`predict_response`): protobuf's
encoding is a concatenation of fields, so a large fixed-width output becomes
its tag, its length and the array's own buffer, joined once into the bytes
gRPC sends. Building a message first would hold the values three times more
(the joined field, the parsed message, its serialisation). Varint and string
fields are filled into a TensorProto in slices, so that what is held beside
the answer stays bounded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfsctl.tfenv import import_tensorflow

tf = import_tensorflow()
from tensorflow.core.framework.tensor_pb2 import TensorProto  # noqa: E402 - after the guard

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


def _field(number: int, payload_size: int) -> bytes:
    """A length-delimited field's tag and length (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(payload_size)


def tensor_pieces(value: np.ndarray, as_content: bool) -> list[bytes | memoryview]:
    """The serialised TensorProto of `value`, as pieces to join (a large fixed-width array
    is one of them as it is, not copied)."""
    dtype = tf.dtypes.as_dtype(value.dtype)
    header = TensorProto(dtype=dtype.as_datatype_enum)
    for size in value.shape:
        header.tensor_shape.dim.add(size=size)
    if value.size == 0:
        return [header.SerializeToString()]
    flat = value.reshape(-1)
    _, number, wire = _FIELDS.get(header.dtype, ("", 0, None))
    if as_content and dtype != tf.string:
        raw = np.ascontiguousarray(flat.astype(flat.dtype.newbyteorder("<"), copy=False))
        number = 4  # tensor_content
    elif wire is not None and not as_content:
        data = flat.view(np.float32 if wire == "<f4" else np.float64) if flat.dtype.kind == "c" \
            else flat
        raw = np.ascontiguousarray(data.astype(wire, copy=False))
    else:
        _fill_slowly(header, flat, dtype, as_content)
        return [header.SerializeToString()]
    return [header.SerializeToString(), _field(number, raw.nbytes), raw.view(np.uint8).data]


def _fill_slowly(proto: Any, flat: np.ndarray, dtype: Any, as_content: bool) -> None:
    """Strings (as a list or EncodeStringList) and varint fields, appended in slices."""
    if dtype == tf.string:
        items = [item if isinstance(item, bytes) else str(item).encode() for item in flat]
        if as_content:
            proto.tensor_content = b"".join(_varint(len(item)) for item in items) + b"".join(items)
        else:
            proto.string_val.extend(items)
        return
    if dtype in (tf.float16, tf.bfloat16):
        flat = flat.view(np.uint16)
    field = getattr(proto, _FIELDS[proto.dtype][0])
    for start in range(0, flat.size, _SLICE):
        field.extend(flat[start:start + _SLICE].tolist())


def predict_response(outputs: dict[str, np.ndarray], model_spec: bytes, as_content: bool) -> bytes:
    """A serialised PredictResponse: `outputs` (field 1, a map: one entry message of key and
    TensorProto each), then the serialised ModelSpec `model_spec` (field 2)."""
    pieces: list[bytes | memoryview] = []
    for key, value in outputs.items():
        name = key.encode()
        tensor = tensor_pieces(value, as_content)
        tensor_size = sum(len(piece) for piece in tensor)
        entry = [_field(1, len(name)), name, _field(2, tensor_size), *tensor]
        pieces += [_field(1, sum(len(piece) for piece in entry)), *entry]
    pieces += [_field(2, len(model_spec)), model_spec]
    return b"".join(pieces)
