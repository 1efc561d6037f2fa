"""A Predict request read on the wire: the same request as protobuf's parse, field for field,
with each numeric `tensor_content` left in the request's bytes instead of copied twice."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from tfsctl.protos import prediction_service_pb2
from tfsctl.serve.loader import make_ndarray, tf
from tfsctl.serve.predict_wire import ContentTensor, read_predict
from tfsctl.servingapi.status import ServingError

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_]


def _request(inputs: dict[str, Any], **spec: Any) -> prediction_service_pb2.PredictRequest:
    request = prediction_service_pb2.PredictRequest()
    request.model_spec.name = spec.get("name", "m")
    if "label" in spec:
        request.model_spec.version_label = spec["label"]
    request.output_filter.extend(spec.get("outputs", []))
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(value if not isinstance(value, np.ndarray)
                                       else tf.make_tensor_proto(value))
    return request


def _array(alias: str, tensor: Any) -> Any:
    """The input as the server takes it: its array, or the error it is refused with."""
    try:
        return make_ndarray(alias, tensor)
    except ServingError as exc:
        return exc.message


def _same(data: bytes) -> None:
    """read_predict(data) says what protobuf's parse says."""
    full = prediction_service_pb2.PredictRequest.FromString(data)
    found = read_predict(data)
    assert sorted(found.inputs) == sorted(full.inputs)
    for alias, tensor in found.inputs.items():
        ours, theirs = _array(alias, tensor), _array(alias, full.inputs[alias])
        assert type(ours) is type(theirs)
        np.testing.assert_array_equal(ours, theirs)
    full.ClearField("inputs")
    assert found.message == full


def test_a_numeric_tensor_is_a_view_of_the_request_bytes() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    data = _request({"x": values}, label="stable", outputs=["y"]).SerializeToString()
    found = read_predict(data)
    tensor = found.inputs["x"]
    assert isinstance(tensor, ContentTensor) and tensor.tensor_content.obj is data
    array = make_ndarray("x", tensor)
    np.testing.assert_array_equal(array, values)
    assert not array.flags.owndata  # numpy reads the request's bytes: no copy
    assert found.model_spec.version_label == "stable" and list(found.message.output_filter) == ["y"]
    assert not found.message.inputs
    _same(data)


def test_typed_fields_strings_and_empty_tensors_are_protobufs_own() -> None:
    typed = tf.make_tensor_proto([1.0, 2.0, 5.0], dtype=tf.float32)
    typed.ClearField("tensor_content")
    typed.float_val.extend([1.0, 2.0, 5.0])
    data = _request({"typed": typed, "text": tf.make_tensor_proto([b"a", b"bc"]),
                     "empty": np.zeros((0, 3), np.float32),
                     "scalar": np.array(2.5, np.float32)}).SerializeToString()
    found = read_predict(data)
    assert not isinstance(found.inputs["typed"], ContentTensor)
    assert not isinstance(found.inputs["text"], ContentTensor)
    _same(data)


def test_a_key_given_twice_and_a_tensor_merged_twice_read_as_protobuf_reads_them() -> None:
    first = _request({"x": np.ones(2, np.float32)}).SerializeToString()
    second = _request({"x": np.arange(3, dtype=np.int64)}, name="m").SerializeToString()
    _same(first + second)  # the last map entry for `x` counts, model_spec is merged
    shape_again = tf.make_tensor_proto(np.ones(4, np.float32)).SerializeToString()
    entry = b"\x0a\x01x\x12" + bytes([len(shape_again) * 2]) + shape_again * 2
    _same(b"\x12" + bytes([len(entry)]) + entry)  # every field twice: merged by protobuf


def test_bytes_protobuf_refuses_are_refused_as_before() -> None:
    data = _request({"x": np.ones(8, np.float32)}).SerializeToString()
    for broken in (data[:-3], b"\xff" * 12, data[:5] + b"\x07" + data[6:]):
        with pytest.raises(DecodeError):
            prediction_service_pb2.PredictRequest.FromString(broken)
        with pytest.raises(DecodeError):
            read_predict(broken)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.tuples(
    st.sampled_from(DTYPES), st.lists(st.integers(0, 3), max_size=3)), max_size=3),
    st.text(max_size=5), st.lists(st.text(max_size=3), max_size=2))
def test_any_request_reads_as_protobuf_reads_it(inputs: dict[str, Any], label: str,
                                                outputs: list[str]) -> None:
    arrays = {alias: np.arange(int(np.prod(shape)), dtype=np.int64).astype(dtype).reshape(shape)
              for alias, (dtype, shape) in inputs.items()}
    _same(_request(arrays, label=label, outputs=outputs).SerializeToString())
