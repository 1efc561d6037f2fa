"""Fuzzing of the fault classes of issue 24 against a real `tfsctl serve` (hypothesis), in the
time box and long mode of test_fuzz.py:

* request heads and trailers of generated sizes, split at generated points across writes:
  refused 431 exactly when their fields pass the 64 KiB cap, answered otherwise;
* floods of connections (closed at once, cut mid-head, half-closed after a request, held)
  under a low file descriptor limit (prlimit): afterwards every descriptor is back and the
  model still serves;
* the base path renamed away and back in generated sequences: the version keeps serving;
* gRPC answers for generated tensors of every dtype and shape (scalars, 0-size, strings),
  checked field by field against TF Serving's protos, with and without
  --enable_serialization_as_tensor_content.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tests.serve.test_faults import send_in_pieces, serves
from tests.serve.test_fuzz import FUZZ, Budget
from tests.serve.test_grpc_answers import VALUE_FIELDS
from tests.support.models import save_v1_model, writable_copies
from tests.support.serve import Server, start_server, stop_server

pytestmark = pytest.mark.slow

MODEL = "hpt"
PREDICT = f"/v1/models/{MODEL}:predict"
CAP = 64 << 10
NOFILE = 256
BODY = b'{"instances": [1.0]}'


def _args(base: Path) -> list[str]:
    return [f"--model_name={MODEL}", f"--model_base_path={base}", "--idle_timeout_seconds=600",
            "--file_system_poll_wait_seconds=1"]


@pytest.fixture(scope="module")
def base(tfs_testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copies = writable_copies(tfs_testdata, ("saved_model_half_plus_two_cpu",),
                             tmp_path_factory.mktemp("fuzz_faults"))
    return copies / "saved_model_half_plus_two_cpu"


@pytest.fixture(scope="module")
def server(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("fuzz_faults_log") / "server.log"
    handle = start_server(_args(base), log, wrapper=("prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"))
    yield handle
    assert stop_server(handle) == 0
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


_FIELDS = st.lists(st.integers(0, 3000), max_size=60)


@st.composite
def split_requests(draw: st.DrawFn) -> tuple[bytes, int, list[int]]:
    """(request bytes, what the cap counts of them, where to cut them)."""
    head = [(b"Host", b"x"), (b"Connection", b"close")]
    head += [(b"X-H%d" % i, b"h" * size) for i, size in enumerate(draw(_FIELDS))]
    trailers = ([(b"X-T%d" % i, b"t" * size) for i, size in enumerate(draw(_FIELDS))]
                if draw(st.booleans()) else None)
    line = b"POST " + PREDICT.encode() + b" HTTP/1.1\r\n"
    if trailers is None:
        head.append((b"Content-Length", b"%d" % len(BODY)))
        body = BODY
    else:
        head.append((b"Transfer-Encoding", b"chunked"))
        body = (b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n"
                + b"".join(k + b": " + v + b"\r\n" for k, v in trailers) + b"\r\n")
    data = line + b"".join(k + b": " + v + b"\r\n" for k, v in head) + b"\r\n" + body
    counted = len(PREDICT) + sum(len(k) + len(v) + 4 for k, v in head + (trailers or []))
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=30))
    return data, counted, cuts


def test_heads_and_trailers_split_anywhere(server: Server, tally: Any) -> None:
    budget = Budget("REST heads split", server)

    @FUZZ
    @given(split_requests())
    def case(request: tuple[bytes, int, list[int]]) -> None:
        data, counted, cuts = request
        assume(abs(counted - CAP) > 256)
        if budget.exhausted():
            return
        answer = send_in_pieces(server, data, cuts)
        status = int(answer.split(b" ", 2)[1])
        assert status == (431 if counted > CAP else 200), (counted, answer[:300])
        budget.record(str(status))

    try:
        case()
    finally:
        budget.report(tally)
    serves(server)


def _open_fds(server: Server) -> int:
    return len(os.listdir(f"/proc/{server.process.pid}/fd"))


_ACTIONS = st.lists(st.sampled_from(["close", "partial", "half-closed", "hold"]),
                    min_size=1, max_size=2 * NOFILE)


def test_connection_floods_under_a_low_nofile(server: Server, tally: Any) -> None:
    serves(server)
    baseline = _open_fds(server)
    budget = Budget("REST floods", server)
    request = (b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % len(BODY) + BODY)

    @FUZZ
    @given(_ACTIONS)
    def case(actions: list[str]) -> None:
        if budget.exhausted():
            return
        held = []
        try:
            for action in actions:
                sock = socket.create_connection(("127.0.0.1", server.rest), timeout=60)
                held.append(sock)
                try:
                    if action == "partial":
                        sock.sendall(request[:30])
                    elif action == "half-closed":
                        sock.sendall(request)
                        sock.shutdown(socket.SHUT_WR)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # refused (503) and closed: a flood beyond the limit
                if action in ("close", "partial"):
                    held.pop().close()
        finally:
            for sock in held:
                sock.close()
        server.wait_for(lambda: _open_fds(server) <= baseline + 8)
        serves(server)
        budget.record(f"{len(actions) // 100 * 100}+ connections")

    try:
        case()
    finally:
        budget.report(tally)


def test_base_paths_that_vanish_and_return(server: Server, base: Path, tally: Any) -> None:
    budget = Budget("base path", server)
    away = base.with_name("away")

    def count(text: str) -> int:
        return server.log.read_text().count(text)

    @FUZZ
    @given(st.lists(st.sampled_from(["away", "back", "predict"]), min_size=1, max_size=6))
    def case(steps: list[str]) -> None:
        if budget.exhausted():
            return
        for step in steps:
            if step == "away" and base.exists():
                seen = count("Cannot list base path")
                base.rename(away)
                server.wait_for(lambda: count("Cannot list base path") > seen)  # noqa: B023
            elif step == "back" and away.exists():
                seen = count("can be listed again")
                away.rename(base)
                server.wait_for(lambda: count("can be listed again") > seen)  # noqa: B023
            serves(server)
            budget.record(step)

    try:
        case()
    finally:
        if away.exists():
            away.rename(base)
        budget.report(tally)
    assert "Unloaded servable" not in server.log.read_text()


# ------------------------------------------------------------------ gRPC answers by dtype

# numpy dtype name -> (AsProtoField's field, how the field's values read back as the array)
ECHO_DTYPES = {"float32": "float_val", "float64": "double_val", "int32": "int_val",
               "int16": "int_val", "int8": "int_val", "uint8": "int_val", "uint16": "int_val",
               "int64": "int64_val", "uint32": "uint32_val", "uint64": "uint64_val",
               "bool": "bool_val", "float16": "half_val", "complex64": "scomplex_val",
               "complex128": "dcomplex_val", "string": "string_val"}


@pytest.fixture(scope="module")
def echo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signature per dtype, `echo_DTYPE`: y = x for an x of any shape."""
    def build(tf: Any) -> dict[str, Any]:
        v1 = tf.compat.v1
        signatures = {}
        for name in ECHO_DTYPES:
            x = v1.placeholder(getattr(tf, name), shape=None, name=f"x_{name}")
            signatures[f"echo_{name}"] = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"x": x}, outputs={"y": tf.identity(x, name=f"y_{name}")})
        return signatures

    model = tmp_path_factory.mktemp("echo") / "echo"
    save_v1_model(model / "1", build)
    return model


@pytest.fixture(scope="module", params=[False, True], ids=["typed", "tensor_content"])
def echo(request: pytest.FixtureRequest, echo_model: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, bool]]:
    flags = ["--enable_serialization_as_tensor_content=true"] if request.param else []
    handle = start_server(["--model_name=echo", f"--model_base_path={echo_model}", *flags],
                          tmp_path_factory.mktemp("echo_log") / "server.log")
    yield handle, request.param
    assert stop_server(handle) == 0


@st.composite
def echo_arrays(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    name = draw(st.sampled_from(sorted(ECHO_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if name == "string":
        size = int(np.prod(shape))
        values = draw(st.lists(st.binary(max_size=300), min_size=size, max_size=size))
        array = np.empty(size, dtype=object)
        array[:] = values
        return name, array.reshape(shape)
    return name, draw(hnp.arrays(np.dtype(name), shape))


def _expected_typed(name: str, array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if name == "float16":
        return flat.view(np.uint16).tolist()
    if name.startswith("complex"):
        return flat.view(np.float32 if name == "complex64" else np.float64).tolist()
    return flat.tolist()


def _expected_content(name: str, array: np.ndarray) -> bytes:
    flat = array.reshape(-1)
    if name != "string":
        return flat.astype(flat.dtype.newbyteorder("<")).tobytes()
    lengths = b""
    for item in flat:
        size = len(item)
        while True:  # TF's EncodeStringList: the lengths as varints, then the bytes
            lengths += bytes([size & 0x7F | (0x80 if size >> 7 else 0)])
            size >>= 7
            if not size:
                break
    return lengths + b"".join(flat)


def _same(name: str, got: list[Any], expected: list[Any]) -> bool:
    if name in ("float32", "float64", "complex64", "complex128"):
        kind = np.float32 if name in ("float32", "complex64") else np.float64
        return np.array_equal(np.array(got, kind), np.array(expected, kind), equal_nan=True)
    return got == expected


def test_grpc_answers_field_by_field(echo: tuple[Server, bool], tally: Any) -> None:
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfsctl.tfenv import import_tensorflow

    tf = import_tensorflow()
    server, as_content = echo
    budget = Budget("gRPC answers " + ("tensor_content" if as_content else "typed"), server)
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        @FUZZ
        @given(echo_arrays())
        def case(drawn: tuple[str, np.ndarray]) -> None:
            if budget.exhausted():
                return
            name, array = drawn
            request = predict_pb2.PredictRequest()
            request.model_spec.name, request.model_spec.signature_name = "echo", f"echo_{name}"
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(
                array, dtype=tf.string if name == "string" else None))
            tensor = stub.Predict(request, timeout=60).outputs["y"]
            assert tensor.dtype == (tf.string if name == "string"
                                    else tf.as_dtype(array.dtype)).as_datatype_enum
            assert [d.size for d in tensor.tensor_shape.dim] == list(array.shape)
            field = "tensor_content" if as_content else ECHO_DTYPES[name]
            filled = {f for f in VALUE_FIELDS if len(getattr(tensor, f))}
            assert filled == ({field} if array.size else set()), (name, array.shape, filled)
            if as_content:
                assert tensor.tensor_content == _expected_content(name, array)
            else:
                assert _same(name, list(getattr(tensor, field)), _expected_typed(name, array))
            budget.record(name)

        try:
            case()
        finally:
            budget.report(tally)
