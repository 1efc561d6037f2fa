"""A gRPC PredictRequest read from its wire bytes, its tensors' contents left in place.

Deserialising a PredictRequest into a message copies every input's `tensor_content` into
protobuf's arena, and reading the field copies it once more into a new bytes object: a
large predict held its body three times before TensorFlow saw it. Here the request's
top-level fields are walked on the wire (a few varints; the contents are skipped by
their length): an input whose TensorProto is only a dtype, a shape and a non-empty
`tensor_content` (what every TF Serving client sends for numeric tensors,
`tf.make_tensor_proto`) becomes a `ContentTensor` whose content is a view of the request
bytes, which numpy reads without a copy. Any other input (typed value fields, strings,
a field given twice) is parsed as the TensorProto it is, and every other field of the
request (model spec, output filter, anything newer) goes through the message itself,
so their meaning is protobuf's. Bytes this walk does not expect (a truncated length, an
unknown wire type) are parsed whole by protobuf, which reports them as it always did.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2

from tfsctl.protos import prediction_service_pb2

#: PredictRequest's `inputs` (a map: entries of key 1, value 2), TensorProto's fields that a
#: ContentTensor holds, and DT_STRING, whose tensor_content is not a flat buffer.
_INPUTS, _KEY, _VALUE = 2, 1, 2
_DTYPE, _SHAPE, _VERSION, _CONTENT = 1, 2, 3, 4
_CONTENT_FIELDS = {_DTYPE: 0, _SHAPE: 2, _VERSION: 0, _CONTENT: 2}  # field -> wire type
_DT_STRING = 7


class _Unusual(Exception):
    """Bytes the walk does not expect: protobuf parses the request instead."""


@dataclass(frozen=True)
class ContentTensor:
    """An input as dtype, shape and a view of its raw content: read like a TensorProto by
    the loader (`dtype`, `tensor_shape.dim`, `tensor_content`)."""

    dtype: int
    tensor_shape: Any
    tensor_content: memoryview


@dataclass
class WirePredict:
    """A PredictRequest: every field but `inputs` in `message`, the inputs apart."""

    message: Any
    inputs: dict[str, Any]

    @property
    def model_spec(self) -> Any:
        return self.message.model_spec


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise _Unusual


def _fields(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, where its key starts, where its value starts and ends) of
    each field in data[start:end]; a varint's value is its number, given as the start."""
    pos = start
    while pos < end:
        key_at = pos
        key, pos = _varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos, end)
            yield number, wire, key_at, value, pos
            continue
        if wire == 2:
            length, pos = _varint(data, pos, end)
            value_at, pos = pos, pos + length
        elif wire in (1, 5):
            value_at, pos = pos, pos + (8 if wire == 1 else 4)
        else:
            raise _Unusual
        if pos > end:
            raise _Unusual
        yield number, wire, key_at, value_at, pos


def _tensor(data: bytes, view: memoryview, start: int, end: int) -> Any:
    seen: dict[int, tuple[int, int]] = {}
    for number, wire, _, value, value_end in _fields(data, start, end):
        if _CONTENT_FIELDS.get(number) != wire or number in seen:
            return tensor_pb2.TensorProto.FromString(bytes(view[start:end]))
        seen[number] = (value, value_end)
    dtype = seen.get(_DTYPE, (0, 0))[0]
    content = seen.get(_CONTENT)
    if content is None or content[0] == content[1] or dtype == _DT_STRING or dtype >= 1 << 31:
        return tensor_pb2.TensorProto.FromString(bytes(view[start:end]))
    shape_at, shape_end = seen.get(_SHAPE, (0, 0))
    return ContentTensor(dtype, tensor_shape_pb2.TensorShapeProto.FromString(
        bytes(view[shape_at:shape_end])), view[content[0]:content[1]])


def _entry(data: bytes, view: memoryview, start: int, end: int) -> tuple[str, Any]:
    alias, tensor, seen = b"", None, set()
    for number, wire, _, value, value_end in _fields(data, start, end):
        if wire != 2 or number not in (_KEY, _VALUE) or number in seen:
            raise _Unusual  # a value given twice is merged: protobuf's to do
        seen.add(number)
        if number == _KEY:
            alias = bytes(view[value:value_end])
        else:
            tensor = _tensor(data, view, value, value_end)
    try:
        name = alias.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unusual from None
    return name, tensor if tensor is not None else tensor_pb2.TensorProto()


def read_predict(data: bytes) -> WirePredict:
    """The request in `data` (gRPC's request deserializer for Predict)."""
    view = memoryview(data)
    try:
        rest: list[memoryview] = []
        inputs: dict[str, Any] = {}
        for number, wire, key_at, value, value_end in _fields(data, 0, len(data)):
            if number == _INPUTS and wire == 2:
                alias, tensor = _entry(data, view, value, value_end)
                inputs[alias] = tensor  # a map key given twice: the last one counts
            else:
                rest.append(view[key_at:value_end])
        message = prediction_service_pb2.PredictRequest.FromString(b"".join(rest))
    except _Unusual:
        message = prediction_service_pb2.PredictRequest.FromString(data)
        inputs = dict(message.inputs)
    return WirePredict(message, inputs)
