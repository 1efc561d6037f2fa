"""Tensors to and from TF Serving's TensorProto without TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from tfsctl.gateway.tensors import from_proto, to_proto
from tfsctl.protos import gateway_pb2


@pytest.mark.parametrize(("value", "dtype", "expected"), [
    ([[1, 2], [3, 4]], 3, np.array([[1, 2], [3, 4]], np.int32)),
    (0.5, 1, np.float32(0.5)),
    ([True, False], 10, np.array([True, False])),
    ([1.5, 2.5], 19, np.array([1.5, 2.5], np.float16)),
])
def test_round_trip(value: object, dtype: int, expected: np.ndarray) -> None:
    back = from_proto(to_proto(value, dtype, None, "m.x"))
    assert back.dtype == expected.dtype and np.array_equal(back, expected)


def test_strings_travel_as_bytes() -> None:
    proto = to_proto([["ab", "ç"]], 7, [-1, -1], "m.x")
    assert list(proto.string_val) == [b"ab", "ç".encode()]
    assert from_proto(proto).tolist() == [[b"ab", "ç".encode()]]


def test_typed_values_and_one_value_for_many() -> None:
    """TF Serving may send values in the typed fields, and one value for a tensor of equal
    values (or none for zeros)."""
    proto = gateway_pb2.TensorProto(dtype=1, float_val=[7.0])
    proto.tensor_shape.dim.add(size=2)
    proto.tensor_shape.dim.add(size=2)
    assert from_proto(proto).tolist() == [[7.0, 7.0], [7.0, 7.0]]
    zeros = gateway_pb2.TensorProto(dtype=9)
    zeros.tensor_shape.dim.add(size=3)
    assert from_proto(zeros).tolist() == [0, 0, 0]
    listed = gateway_pb2.TensorProto(dtype=3, int_val=[1, 2, 3])
    listed.tensor_shape.dim.add(size=3)
    assert from_proto(listed).tolist() == [1, 2, 3]


@pytest.mark.parametrize(("value", "shape", "message"), [
    ([1, 2], [], r"m.x: shape \[2\] does not match the signature's \[\]"),
    ([[1, 2]], [-1, 3], r"shape \[1, 2\] does not match"),
    ([[1], [1, 2]], None, "not a int32 tensor"),
    ([2**40], None, "not a int32 tensor"),
])
def test_values_the_signature_does_not_take(value: object, shape: list[int] | None,
                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_proto(value, 3, shape, "m.x")
