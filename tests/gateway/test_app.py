"""The gateway's HTTP answers, against a stand-in TF Serving: the handler's answer, every
error class as JSON with its code, signatures read once, models called concurrently."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.gateway.fake_server import FakeServing
from tfsctl.gateway.app import GatewayApp
from tfsctl.gateway.handler import load_handler

HANDLER = """
def preprocess(payload):
    if payload.get("boom"):
        raise RuntimeError("the vocabulary is not loaded")
    if payload.get("bad"):
        raise ValueError("`text` must be a string")
    return {m: {"x": payload["x"], **({"scale": payload["scale"]} if "scale" in payload else {})}
            for m in payload.get("models", ["double"])}

def postprocess(payload, outputs):
    if payload.get("late_boom"):
        return {"y": object()}
    return {m: o["y"] for m, o in outputs.items()}
"""




async def call(app: GatewayApp, method: str, path: str, body: bytes = b"",
               headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, Any]:
    """One request through the ASGI app, as uvicorn would make it."""
    chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)] or [b""]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    await app(scope, receive, send)
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
    return sent[0]["status"], json.loads(sent[1]["body"])


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[Callable[[Callable[[GatewayApp, FakeServing], Any]], None]]:
    """Run an async test body with an app in front of a fresh stand-in server."""
    handler_file = tmp_path / "handler.py"
    handler_file.write_text(HANDLER)

    def run(body: Callable[[GatewayApp, FakeServing], Any], deadline: float = 30.0) -> None:
        async def main() -> None:
            fake = FakeServing()
            port = await fake.start()
            app = GatewayApp("demo", load_handler(handler_file), f"127.0.0.1:{port}",
                             models=["double"], max_body_bytes=4096, deadline=deadline)
            try:
                await body(app, fake)
            finally:
                await app.client.close()
                await fake.stop()
        asyncio.run(main())

    yield run


def predict(app: GatewayApp, payload: Any) -> Awaitable[tuple[int, Any]]:
    return call(app, "POST", "/v1/gateways/demo:predict", json.dumps(payload).encode())


def test_the_handler_answers_with_signature_dtypes(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        assert await predict(app, {"x": [1, 2], "scale": 3}) == (200, {"double": [3.0, 6.0]})
        sent = fake.requests[0]
        assert sent.inputs["x"].dtype == 1 and sent.inputs["scale"].dtype == 3  # float, int32
        assert [d.size for d in sent.inputs["scale"].tensor_shape.dim] == []  # a scalar
    scenario(body)


def test_every_named_model_is_called_and_signatures_are_read_once(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        for _ in range(3):
            status, answer = await predict(app, {"x": [1.5], "models": ["double", "twice"]})
            assert (status, answer) == (200, {"double": [3.0], "twice": [3.0]})
        assert fake.metadata_calls == 2  # once per model, not per request
    scenario(body)


@pytest.mark.parametrize(("payload", "status", "kind", "text"), [
    ({"bad": True, "x": [1]}, 400, "bad_request", "preprocess: ValueError: `text` must be a string"),
    ({"y": [1]}, 400, "bad_request", "preprocess: missing key 'x'"),
    ({"x": [[1], [2]]}, 400, "bad_request", "double.x: shape [2, 1] does not match the "
                                            "signature's [-1]"),
    ({"x": ["one"]}, 400, "bad_request", "double.x: not a float32 tensor"),
    ({"boom": True}, 500, "handler", "preprocess raised RuntimeError: the vocabulary is not loaded"),
    ({"x": [1], "models": ["broken"]}, 502, "model", "Incompatible shapes: [2] vs. [3]"),
    ({"x": [1], "models": ["missing"]}, 502, "model", "Servable not found"),
])
def test_errors_are_json_with_their_code(scenario: Any, payload: Any, status: int, kind: str,
                                         text: str) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        got, answer = await predict(app, payload)
        assert (got, answer["error"]["kind"]) == (status, kind), answer
        assert text in answer["error"]["message"]
        assert await predict(app, {"x": [1]}) == (200, {"double": [2.0]})  # still serving
    scenario(body)


def test_a_model_error_names_the_model_and_status(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        status, answer = await predict(app, {"x": [1], "models": ["double", "broken"]})
        assert status == 502
        assert (answer["error"]["model"], answer["error"]["status"]) == ("broken",
                                                                         "INVALID_ARGUMENT")
    scenario(body)


def test_an_answer_json_cannot_carry_is_a_500(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        status, answer = await predict(app, {"x": [1], "late_boom": True})
        assert status == 500 and "is not JSON" in answer["error"]["message"]
    scenario(body)


def test_a_model_past_the_deadline_is_a_504(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        status, answer = await predict(app, {"x": [1], "models": ["stuck"]})
        assert (status, answer["error"]["kind"], answer["error"]["model"]) == (504, "deadline",
                                                                               "stuck")
    scenario(body, deadline=1.0)  # the stand-in never answers: any deadline is exceeded


def test_malformed_json_is_a_400(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        status, answer = await call(app, "POST", "/v1/gateways/demo:predict", b'{"x": ')
        assert (status, answer["error"]["kind"]) == (400, "malformed_json")
    scenario(body)


def test_a_body_over_the_limit_is_a_413(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        big = json.dumps({"x": list(range(2000))}).encode()
        assert (await call(app, "POST", "/v1/gateways/demo:predict", big))[0] == 413  # chunked
        declared = [(b"content-length", str(len(big)).encode())]
        assert (await call(app, "POST", "/v1/gateways/demo:predict", big, declared))[0] == 413
    scenario(body)


def test_readiness_reports_the_models(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        status, answer = await call(app, "GET", "/v1/gateways/demo")
        assert (status, answer["ready"], answer["models"]) == (200, True, {"double": "AVAILABLE"})
        app.models = ("double", "loading")
        status, answer = await call(app, "GET", "/v1/gateways/demo")
        assert (status, answer["models"]["loading"]) == (503, "LOADING")
    scenario(body)


def test_other_routes_and_methods_are_json_errors(scenario: Any) -> None:
    async def body(app: GatewayApp, fake: FakeServing) -> None:
        assert (await call(app, "GET", "/v1/gateways/demo:predict"))[0] == 405
        assert (await call(app, "GET", "/v1/gateways/other"))[0] == 404
    scenario(body)


def test_numpy_answers_are_json() -> None:
    from tfsctl.gateway.app import _jsonable

    assert json.dumps({"a": np.float32(1.5), "b": np.arange(2)}, default=_jsonable) == \
        '{"a": 1.5, "b": [0, 1]}'
