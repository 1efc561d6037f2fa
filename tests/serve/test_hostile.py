"""Hostile requests to `tfsctl serve`: each class the fuzzing found gets an answer, and the
server still serves the normal predict afterwards.

One server for the module, with small request limits so that the caps are reached with
small requests (`--max_request_elements=100000 --max_request_bytes=1000000`) and a short
idle timeout, so that the connection tests wait for the server to close a connection, not
for a minute.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests

from tests.support.serve import Server, start_server, stop_server

pytestmark = pytest.mark.slow

MODEL = "hpt"
PREDICT = f"/v1/models/{MODEL}:predict"
MAX_ELEMENTS, MAX_BYTES, IDLE = 100_000, 1_000_000, 2


@pytest.fixture(scope="module")
def server(tfs_testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    handle = start_server([f"--model_name={MODEL}",
                           f"--model_base_path={tfs_testdata / 'saved_model_half_plus_two_cpu'}",
                           f"--max_request_elements={MAX_ELEMENTS}",
                           f"--max_request_bytes={MAX_BYTES}", f"--idle_timeout_seconds={IDLE}"],
                          log)
    yield handle
    assert stop_server(handle) == 0
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


def still_serves(server: Server) -> None:
    response = server.post(PREDICT, {"instances": [1.0, 2.0]})
    assert (response.status_code, response.json()) == (200, {"predictions": [2.5, 3.0]})


def post_raw(server: Server, body: bytes, path: str = PREDICT) -> requests.Response:
    return requests.post(server.url + path, data=body, timeout=60,
                         headers={"Content-Type": "application/json"})


def assert_json_error(response: requests.Response, status: int, fragment: str = "") -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert fragment in error, error


def raw_exchange(server: Server, request: bytes) -> bytes:
    """Send bytes on a fresh connection and read until the server closes it (a generous
    deadline: the server must answer and close, never hang)."""
    with socket.create_connection(("127.0.0.1", server.rest), timeout=60) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# ------------------------------------------------------------------ REST: answers, not drops


@pytest.mark.parametrize("body,fragment", [
    (b'{"instances": ["\\udc00"]}', "surrogate"),
    (b'{"signature_name": "\\ud800x", "instances": [1.0]}', "surrogate"),
    (b'{"\\udfff": 1, "instances": [1.0]}', "surrogate"),
    (b'{"instances": ["\xed\xa0\x80"]}', "JSON Parse error"),  # a surrogate's UTF-8-like bytes
    (b'{"instances": [1.0], "x": "\xff\xfe"}', "JSON Parse error"),
])
def test_lone_surrogates_and_bad_utf8_are_parse_errors(server: Server, body: bytes,
                                                       fragment: str) -> None:
    assert_json_error(post_raw(server, body), 400, fragment)
    still_serves(server)


def test_a_valid_surrogate_pair_is_a_character(server: Server) -> None:
    response = post_raw(server, b'{"instances": ["\\ud83d\\ude00"]}')  # a string, not a float
    assert_json_error(response, 400, '"\U0001F600" Type: String is not of expected type: float')


@pytest.mark.parametrize("value,status,fragment", [
    (10 ** 400, 400, "Number too big to be stored in double"),
    (-(10 ** 400), 400, "Number too big to be stored in double"),
    (2 ** 63, 400, "has uint64_t element"),
    (2 ** 64 - 1, 400, "has uint64_t element"),
    (-(2 ** 63) - 1, 200, ""),  # below int64: rapidjson reads it as a double
    (2 ** 64, 200, ""),
])
def test_out_of_range_integers_in_examples(server: Server, value: int, status: int,
                                           fragment: str) -> None:
    for method, signature in (("regress", "regress_x_to_y"), ("classify", "classify_x_to_y")):
        body = f'{{"signature_name": "{signature}", "examples": [{{"x": {value}}}]}}'.encode()
        response = post_raw(server, body, f"/v1/models/{MODEL}:{method}")
        if status == 200:
            assert response.status_code == 200, response.text[:300]
        else:
            assert_json_error(response, status, fragment)
    still_serves(server)


@pytest.mark.parametrize("value", [10 ** 400, -(10 ** 400)])
def test_integers_beyond_a_double_in_predict(server: Server, value: int) -> None:
    assert_json_error(post_raw(server, f'{{"instances": [{value}]}}'.encode()), 400,
                      "Number too big")
    still_serves(server)


@pytest.mark.parametrize("version", ["9" * 5000, "1" + "0" * 19, str(2 ** 63), "0" * 30 + "1" * 20])
def test_versions_beyond_int64_fail_to_convert(server: Server, version: str) -> None:
    for method, path in (("POST", f"/v1/models/{MODEL}/versions/{version}:predict"),
                         ("GET", f"/v1/models/{MODEL}/versions/{version}"),
                         ("GET", f"/v1/models/{MODEL}/versions/{version}/metadata")):
        response = requests.request(method, server.url + path, json={"instances": [1.0]}, timeout=60)
        assert_json_error(response, 400, "Failed to convert version")
    largest = requests.get(server.url + f"/v1/models/{MODEL}/versions/{2 ** 63 - 1}", timeout=60)
    assert_json_error(largest, 404, f"Could not find version {2 ** 63 - 1}")
    still_serves(server)


@pytest.mark.parametrize("rank", [65, 100, 300])
def test_inputs_of_too_many_dimensions(server: Server, rank: int) -> None:
    nested = "[" * rank + "1.0" + "]" * rank
    for body in (f'{{"instances": {nested}}}', f'{{"inputs": {nested}}}',
                 f'{{"inputs": {{"x": {nested}}}}}', f'{{"instances": [{{"x": {nested}}}]}}'):
        response = post_raw(server, body.encode())
        assert_json_error(response, 400, "dimensions")
    still_serves(server)


@pytest.mark.parametrize("body", [
    b"[" * 1000 + b"]" * 1000,
    b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a": ' * 3000 + b"1" + b"}" * 3000,
    b'{"signature_name": "regress_x_to_y", "examples": [{"x": ' + b"[" * 2000 + b"]" * 2000 + b"}]}",
])
def test_deeply_nested_json(server: Server, body: bytes) -> None:
    for path in (PREDICT, f"/v1/models/{MODEL}:regress", f"/v1/models/{MODEL}:classify"):
        response = post_raw(server, body, path)
        assert 400 <= response.status_code < 500, response.text[:300]
        assert "error" in response.json()
    still_serves(server)


@pytest.mark.parametrize("length", [b"abc", b"-5", b"1e3", b"99999999999999999999999999", b"0x10"])
def test_content_length_that_is_not_a_number(server: Server, length: bytes) -> None:
    answer = raw_exchange(server, b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: " + length + b"\r\n\r\n{}")
    status, body = status_and_body(answer)
    assert status == 400 and "error" in body
    still_serves(server)


@pytest.mark.parametrize("length", [MAX_BYTES + 1, 10 ** 10, 2 ** 62])
def test_content_length_beyond_the_limit_is_refused_unread(server: Server, length: int) -> None:
    answer = raw_exchange(server, b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: " + str(length).encode() + b"\r\n\r\n{\"instances\"")
    status, body = status_and_body(answer)
    assert status == 400 and "--max_request_bytes" in body["error"]
    still_serves(server)


def test_chunked_bodies_are_read(server: Server) -> None:
    def chunks(*parts: bytes) -> Iterator[bytes]:
        yield from parts

    response = requests.post(server.url + PREDICT, data=chunks(b'{"instan', b'ces": [1.0, ', b"3.0]}"),
                             timeout=60)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert (response.status_code, response.json()) == (200, {"predictions": [2.5, 3.5]})
    many = requests.post(server.url + PREDICT, timeout=60, data=chunks(
        b'{"instances": [', *([b"1.0, "] * 999), b"1.0]}"))
    assert many.status_code == 200 and len(many.json()["predictions"]) == 1000
    too_big = requests.post(server.url + PREDICT, timeout=60,
                            data=chunks(*([b" " * 100_000] * 11), b'{"instances": [1.0]}'))
    assert_json_error(too_big, 400, "--max_request_bytes")
    still_serves(server)


@pytest.mark.parametrize("body,fragment", [
    ({"instances": [1.0] * (MAX_ELEMENTS + 1)}, "--max_request_elements"),
    ({"instances": [[1.0] * 1000] * 101}, "--max_request_elements"),
    ({"inputs": [[[1.0] * 100] * 100] * 11}, "--max_request_elements"),
    ({"instances": [{"x": [1.0] * 1000}] * 101}, "--max_request_elements"),
    ({"instances": [1.0] * 10, "pad": "x" * MAX_BYTES}, "--max_request_bytes"),
])
def test_requests_beyond_the_limits(server: Server, body: dict, fragment: str) -> None:
    assert_json_error(server.post(PREDICT, body), 400, fragment)
    still_serves(server)


def test_requests_within_the_limits(server: Server) -> None:
    response = server.post(PREDICT, {"instances": [1.0] * MAX_ELEMENTS})
    assert response.status_code == 200 and len(response.json()["predictions"]) == MAX_ELEMENTS


# ------------------------------------------------------------------ REST: connections


def _closed_by_server(sock: socket.socket) -> bool:
    """Wait (60 s at most) for the server to close the connection; True when it did."""
    sock.settimeout(60)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize("sent", [b"", b"POST /v1/models/hpt:predict HTTP/1.1\r\nHost:",
                                  b"GET /v1/models/hpt HTTP/1.1\r\nHost: x\r\n\r\n"])
def test_idle_and_slow_connections_are_closed(server: Server, sent: bytes) -> None:
    """Nothing, half a request, or an answered request then silence: closed after the idle
    timeout, however many there are."""
    sockets = [socket.create_connection(("127.0.0.1", server.rest), timeout=60) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(sent)
        assert all(_closed_by_server(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    still_serves(server)


def test_a_body_that_stops_arriving_is_answered_408(server: Server) -> None:
    answer = raw_exchange(server, b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 100\r\n\r\n{\"instances\": [")
    status, body = status_and_body(answer)
    assert status == 408 and "not received" in body["error"]
    still_serves(server)


# ------------------------------------------------------------------ gRPC


@pytest.fixture(scope="module")
def predict_stub(server: Server) -> Iterator[object]:
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(server.grpc_address) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _request(dtype: int = 1, dims: tuple[int, ...] = (2,), **values: object) -> object:
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    tensor = request.inputs["x"]
    tensor.dtype = dtype
    for dim in dims:
        tensor.tensor_shape.dim.add(size=dim)
    for field, value in (values or {"float_val": [1.0, 2.0]}).items():
        if isinstance(value, bytes):
            setattr(tensor, field, value)
        else:
            getattr(tensor, field).extend(value)
    return request


def grpc_still_serves(stub: object) -> None:
    from tfsctl.tfenv import import_tensorflow

    response = stub.Predict(_request(), timeout=60)  # type: ignore[attr-defined]
    assert import_tensorflow().make_ndarray(response.outputs["y"]).tolist() == [2.5, 3.0]


@pytest.mark.parametrize("request_args,fragment", [
    ({"dims": (250_000_000,), "float_val": [1.0]}, "--max_request_elements"),
    ({"dims": (MAX_ELEMENTS + 1,), "float_val": [1.0]}, "--max_request_elements"),
    ({"dims": (2 ** 40, 2 ** 40), "float_val": [1.0]}, "--max_request_elements"),
    ({"dtype": 18, "dims": (70_000,), "dcomplex_val": [1.0, 0.0]}, "--max_request_bytes"),
    ({"dims": (-1,), "float_val": [1.0]}, "negative dimension"),
    ({"dims": (1,) * 65, "float_val": [1.0]}, "dimensions"),
    ({"dtype": 20, "dims": (1,)}, "tensor parsing error: x"),  # DT_RESOURCE
    ({"dtype": 21, "dims": (1,)}, "tensor parsing error: x"),  # DT_VARIANT
    ({"dtype": 0, "dims": (1,), "float_val": [1.0]}, "tensor parsing error: x"),
    ({"dtype": 999, "dims": (1,)}, "tensor parsing error: x"),
    ({"dims": (4,), "tensor_content": b"\x00" * 7}, "tensor parsing error: x"),
    ({"dtype": 7, "dims": (3,), "string_val": [b"a", b"b"]}, ""),
])
def test_grpc_bad_tensors_are_invalid_argument(predict_stub: object, request_args: dict,
                                               fragment: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(_request(**request_args), timeout=60)  # type: ignore[attr-defined]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert fragment in caught.value.details()
    grpc_still_serves(predict_stub)


def test_grpc_message_beyond_the_byte_limit(predict_stub: object) -> None:
    request = _request(dims=(2,), float_val=[1.0, 2.0])
    request.model_spec.signature_name = "x" * (MAX_BYTES + 1)  # type: ignore[attr-defined]
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(request, timeout=60)  # type: ignore[attr-defined]
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    grpc_still_serves(predict_stub)


def test_grpc_garbage_bytes_are_never_unknown(server: Server, predict_stub: object) -> None:
    with grpc.insecure_channel(server.grpc_address) as channel:
        call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
        for garbage in (b"\xff" * 10, b"\x0a\x05abc", b"\x12\xff\xff\xff\xff\x0f"):
            with pytest.raises(grpc.RpcError) as caught:
                call(garbage, timeout=60)
            assert caught.value.code() != grpc.StatusCode.UNKNOWN, caught.value.details()
    grpc_still_serves(predict_stub)


def test_grpc_silent_connections_are_closed(server: Server, predict_stub: object) -> None:
    sockets = [socket.create_connection(("127.0.0.1", server.grpc), timeout=60) for _ in range(10)]
    try:
        assert all(_closed_by_server(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    grpc_still_serves(predict_stub)


def test_grpc_string_inputs_do_not_crash(predict_stub: object) -> None:
    request = _request(dtype=7, dims=(2,), string_val=[b"\xff", "\U0001F600".encode()])
    with pytest.raises(grpc.RpcError) as caught:
        predict_stub.Predict(request, timeout=60)  # type: ignore[attr-defined]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    grpc_still_serves(predict_stub)


def test_a_half_closed_connection_still_gets_its_answer(server: Server) -> None:
    """A client may shut down its sending side once the request is out (found by fuzzing:
    the answer was lost)."""
    body = b'{"instances": [1.0]}'
    with socket.create_connection(("127.0.0.1", server.rest), timeout=60) as sock:
        sock.sendall(b"POST " + PREDICT.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert status_and_body(answer) == (200, {"predictions": [2.5]})
