"""gRPC Predict answers field by field as TF Serving writes them (predict_util.cc), read with
the official tensorflow_serving.apis protos: the typed field of each dtype (AsProtoField)
by default, the raw bytes in `tensor_content` (AsProtoTensorContent) with
--enable_serialization_as_tensor_content, for scalars, 0-size tensors, strings and every
dtype a SavedModel output can have.

The model is made here: one input `x`, and one constant output per case. The expected
fields are written out per case from TensorFlow's rules (tensor.cc's ProtoHelper), not
computed by the code under test.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from tests.support.models import save_v1_model
from tests.support.serve import Server, start_server, stop_server

pytestmark = pytest.mark.slow

VALUE_FIELDS = ("float_val", "double_val", "int_val", "int64_val", "bool_val", "string_val",
                "half_val", "scomplex_val", "dcomplex_val", "uint32_val", "uint64_val",
                "tensor_content")

# alias: (dtype name, value, shape, AsProtoField's field, its values, AsProtoTensorContent's bytes)
CASES: dict[str, tuple[str, Any, list[int], str, list[Any], bytes]] = {
    "f_vector": ("float32", [2.5, 3.0, 4.5], [3], "float_val", [2.5, 3.0, 4.5],
                 struct.pack("<3f", 2.5, 3.0, 4.5)),
    "f_scalar": ("float32", 7.0, [], "float_val", [7.0], struct.pack("<f", 7.0)),
    "f_empty": ("float32", np.zeros((2, 0)), [2, 0], "float_val", [], b""),
    "f_matrix": ("float32", [[1.0, 2.0], [3.0, 4.0]], [2, 2], "float_val", [1.0, 2.0, 3.0, 4.0],
                 struct.pack("<4f", 1, 2, 3, 4)),
    "double": ("float64", [0.1, -2.0], [2], "double_val", [0.1, -2.0], struct.pack("<2d", 0.1, -2)),
    "int32": ("int32", [-1, 2, 2 ** 31 - 1], [3], "int_val", [-1, 2, 2 ** 31 - 1],
              struct.pack("<3i", -1, 2, 2 ** 31 - 1)),
    "int16": ("int16", [-300, 300], [2], "int_val", [-300, 300], struct.pack("<2h", -300, 300)),
    "int8": ("int8", [-5, 5], [2], "int_val", [-5, 5], struct.pack("<2b", -5, 5)),
    "uint8": ("uint8", [0, 255], [2], "int_val", [0, 255], bytes([0, 255])),
    "uint16": ("uint16", [65535], [1], "int_val", [65535], struct.pack("<H", 65535)),
    "int64": ("int64", [-(2 ** 63), 2 ** 40], [2], "int64_val", [-(2 ** 63), 2 ** 40],
              struct.pack("<2q", -(2 ** 63), 2 ** 40)),
    "uint32": ("uint32", [2 ** 32 - 1], [1], "uint32_val", [2 ** 32 - 1], struct.pack("<I", 2 ** 32 - 1)),
    "uint64": ("uint64", [2 ** 64 - 1], [1], "uint64_val", [2 ** 64 - 1], struct.pack("<Q", 2 ** 64 - 1)),
    "bool": ("bool", [True, False, True], [3], "bool_val", [True, False, True], bytes([1, 0, 1])),
    "half": ("float16", [1.0, -2.0], [2], "half_val", [0x3C00, 0xC000], struct.pack("<2H", 0x3C00, 0xC000)),
    "bfloat16": ("bfloat16", [1.0], [1], "half_val", [0x3F80], struct.pack("<H", 0x3F80)),
    "complex64": ("complex64", [1 + 2j], [1], "scomplex_val", [1.0, 2.0], struct.pack("<2f", 1, 2)),
    "complex128": ("complex128", [3 - 4j], [1], "dcomplex_val", [3.0, -4.0], struct.pack("<2d", 3, -4)),
    "s_vector": ("string", [b"ab", b"", b"\xff\x00"], [3], "string_val", [b"ab", b"", b"\xff\x00"],
                 bytes([2, 0, 2]) + b"ab\xff\x00"),
    "s_scalar": ("string", b"hello", [], "string_val", [b"hello"], bytes([5]) + b"hello"),
    "s_empty": ("string", np.zeros((0,), dtype=object), [0], "string_val", [], b""),
    "s_long": ("string", [b"x" * 200], [1], "string_val", [b"x" * 200], bytes([200, 1]) + b"x" * 200),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    def build(tf: Any) -> dict[str, Any]:
        v1 = tf.compat.v1
        x = v1.placeholder(tf.float32, shape=[None], name="x")
        outputs = {}
        for alias, (dtype, value, _, _, _, _) in CASES.items():
            if dtype == "string":
                value = np.array(value, dtype=object)
            outputs[alias] = tf.identity(tf.constant(value, dtype=getattr(tf, dtype)), name=alias)
        return {"serving_default": v1.saved_model.signature_def_utils.predict_signature_def(
            inputs={"x": x}, outputs=outputs)}

    base = tmp_path_factory.mktemp("dtypes") / "dtypes"
    save_v1_model(base / "1", build)
    return base


def _server(model: Path, tmp_path_factory: pytest.TempPathFactory, *flags: str) -> Iterator[Server]:
    handle = start_server(["--model_name=dtypes", f"--model_base_path={model}", *flags],
                          tmp_path_factory.mktemp("answers") / "server.log")
    yield handle
    assert stop_server(handle) == 0


@pytest.fixture(scope="module")
def typed(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(model, tmp_path_factory)


@pytest.fixture(scope="module")
def content(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from _server(model, tmp_path_factory, "--enable_serialization_as_tensor_content=true")


def _predict(server: Server) -> Any:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfsctl.tfenv import import_tensorflow

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "dtypes"
    request.inputs["x"].CopyFrom(import_tensorflow().make_tensor_proto([1.0], dtype="float32"))
    with grpc.insecure_channel(server.grpc_address) as channel:
        return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)


def _check_header(tensor: Any, dtype: str, shape: list[int]) -> None:
    from tensorflow.core.framework import types_pb2

    from tfsctl.tfenv import import_tensorflow

    assert tensor.dtype == getattr(import_tensorflow(), dtype).as_datatype_enum, types_pb2
    assert [d.size for d in tensor.tensor_shape.dim] == shape
    assert not tensor.tensor_shape.unknown_rank and tensor.version_number == 0


def _set_fields(tensor: Any) -> set[str]:
    return {name for name in VALUE_FIELDS if len(getattr(tensor, name))}


def test_outputs_are_in_their_typed_fields(typed: Server) -> None:
    response = _predict(typed)
    assert set(response.outputs) == set(CASES)
    for alias, (dtype, _, shape, field, values, _) in CASES.items():
        tensor = response.outputs[alias]
        _check_header(tensor, dtype, shape)
        assert _set_fields(tensor) == ({field} if values else set()), alias
        got = list(getattr(tensor, field))
        if field == "float_val":
            got = [float(np.float32(v)) for v in got]
        assert got == values, alias


def test_outputs_are_in_tensor_content_with_the_flag(content: Server) -> None:
    response = _predict(content)
    for alias, (dtype, _, shape, _, _, raw) in CASES.items():
        tensor = response.outputs[alias]
        _check_header(tensor, dtype, shape)
        assert _set_fields(tensor) == ({"tensor_content"} if raw else set()), alias
        assert tensor.tensor_content == raw, alias
