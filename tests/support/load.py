"""A mixed client load on a server while something changes it, the way users hit one.

Three kinds of client run at once, each on threads of its own, paced so that
together they send about `rate` predicts a second to one label:

* REST keep-alive: a `requests.Session` (one connection reused, as a service does);
* REST new connection: every request on a new TCP connection (as curl or a cron job);
* gRPC: TensorFlow Serving's official stubs (tensorflow-serving-api's
  PredictionServiceStub) over one channel per thread: one HTTP/2 connection,
  many RPCs, which an L4 balancer would pin to one server.

Every request is recorded: when it got a correct answer, or which kind of
failure it was (by client), so a lost request is never silent. Used by the e2e
tests (no request may fail) and by bench/rollout.py (which reports the figures).

`Load` is that recording engine for any set of client kinds; `MixedLoad` drives a
server with the three above, `GatewayLoad` a gateway with the two REST kinds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

CLIENTS = ("rest-keepalive", "rest-new-connection", "grpc")


def _grpc_client(host: str, port: int, model: str, label: str,
                 values: list[float]) -> tuple[Callable[[], list[float]], Callable[[], None]]:
    """A predict over gRPC with the official stubs (imports TensorFlow's protos, once)."""
    import grpc
    import numpy
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.version_label = label
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, float_val=values,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))])))

    def call() -> list[float]:
        response = stub.Predict(request, timeout=5)
        tensor = next(iter(response.outputs.values()))
        if tensor.tensor_content:  # packed, as TF Serving answers a tensor of several values
            return [float(v) for v in numpy.frombuffer(tensor.tensor_content, dtype=numpy.float32)]
        return list(tensor.float_val)

    return call, channel.close


def _rest_client(url: str, body: Any, kind: str, parse: Callable[[Any], Any]
                 ) -> tuple[Callable[[], Any], Callable[[], None]]:
    """POST `body` as JSON to `url`: on one kept-alive connection, or on a new connection
    each time for "rest-new-connection"; `parse` reads a 200's JSON."""
    data = json.dumps(body)
    session = requests.Session()
    headers = {"Connection": "close"} if kind == "rest-new-connection" else {}

    def call() -> Any:
        response = session.post(url, data=data, headers=headers, timeout=5)
        if response.status_code != 200:
            raise _Failed(f"http {response.status_code}", response.text[:200])
        return parse(response.json())

    return call, session.close


class Load:
    """`threads` clients of each of `clients`' kinds, about `rate` requests a second in all,
    for at most `limit_s` seconds; a context manager. A subclass makes each kind's client
    (`_client`) and says which answers are correct (`_correct`)."""

    def __init__(self, clients: tuple[str, ...], *, rate: float, threads: int, limit_s: float):
        self.interval = len(clients) * threads / rate
        self.limit = limit_s
        self.answered: list[float] = []
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.sent = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(self._client(kind), kind),
                                          daemon=True)
                         for kind in clients for _ in range(threads)]
        self._started = self._ended = 0.0

    def _client(self, kind: str) -> tuple[Callable[[], Any], Callable[[], None]]:
        """(call, close) for one client of `kind`; made before the clock starts."""
        raise NotImplementedError

    def _correct(self, answer: Any) -> bool:
        raise NotImplementedError

    def __enter__(self) -> Load:
        self._started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._ended = time.monotonic()

    def wait_sent(self, count: int, timeout: float = 60) -> None:
        """Until the clients have sent `count` requests in all (a claim about a load needs
        enough of it, however soon the change under test is over)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.sent >= count, timeout):
                raise AssertionError(f"the load sent {self.sent} requests, not {count}, "
                                     f"within {timeout:.0f} s")

    def _outcome(self, call: Callable[[], Any]) -> tuple[str, str] | None:
        """None for a correct answer, else (kind of failure, an example of it)."""
        import grpc

        try:
            answer = call()
        except _Failed as failed:
            return failed.kind, failed.example
        except grpc.RpcError as exc:
            return f"grpc {exc.code().name}", str(exc.details())[:200]
        except requests.Timeout:
            return "timeout", ""
        except requests.RequestException as exc:
            return "refused/reset", str(exc)[:200]
        if not self._correct(answer):
            return "wrong answer", str(answer)[:200]
        return None

    def _run(self, client: tuple[Callable[[], Any], Callable[[], None]], kind: str) -> None:
        call, close = client
        end = self._started + self.limit
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                sent = time.monotonic()
                outcome = self._outcome(call)
                with self._lock:
                    self.sent += 1
                    self._lock.notify_all()
                    if outcome is None:
                        self.answered.append(time.monotonic())
                    else:
                        failure = f"{kind}: {outcome[0]}"
                        self.failures[failure] += 1
                        self.examples.setdefault(failure, outcome[1])
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))
        finally:
            close()

    def report(self) -> dict[str, Any]:
        """Requests, failures by kind, the longest time without any correct answer, and the
        rate actually sent."""
        times = sorted([self._started, *self.answered, self._ended or time.monotonic()])
        gap = max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)
        seconds = max((self._ended or time.monotonic()) - self._started, 1e-9)
        return {"sent": self.sent, "answered": len(self.answered),
                "failed": sum(self.failures.values()), "failures": dict(self.failures),
                "examples": self.examples, "longest_gap_s": round(gap, 3),
                "rate": round(self.sent / seconds, 1)}


class MixedLoad(Load):
    """Each of CLIENTS against a server's `model` at `label`."""

    def __init__(self, host: str, rest: int, grpc: int, model: str, label: str,
                 values: list[float], expect: list[float], *, rate: float = 120,
                 threads: int = 2, limit_s: float = 300):
        self.host, self.rest, self.grpc = host, rest, grpc
        self.model, self.label, self.values, self.expect = model, label, values, expect
        super().__init__(CLIENTS, rate=rate, threads=threads, limit_s=limit_s)

    def _client(self, kind: str) -> tuple[Callable[[], Any], Callable[[], None]]:
        if kind == "grpc":  # made before the clock starts: the stubs import TF's protos
            return _grpc_client(self.host, self.grpc, self.model, self.label, self.values)
        url = f"http://{self.host}:{self.rest}/v1/models/{self.model}/labels/{self.label}:predict"
        return _rest_client(url, {"instances": self.values}, kind,
                            lambda body: [float(v) for v in body["predictions"]])

    def _correct(self, answer: Any) -> bool:
        return [round(v, 4) for v in answer] == [round(v, 4) for v in self.expect]


class GatewayLoad(Load):
    """REST keep-alive and new-connection clients POSTing `payload` to a gateway's predict
    URL; an answer is correct when `correct` says so."""

    def __init__(self, url: str, payload: Any, correct: Callable[[Any], bool], *,
                 rate: float = 100, threads: int = 3, limit_s: float = 300):
        self.url, self.payload, self.check = url, payload, correct
        super().__init__(CLIENTS[:2], rate=rate, threads=threads, limit_s=limit_s)

    def _client(self, kind: str) -> tuple[Callable[[], Any], Callable[[], None]]:
        return _rest_client(self.url, self.payload, kind, lambda body: body)

    def _correct(self, answer: Any) -> bool:
        return self.check(answer)


class _Failed(Exception):
    def __init__(self, kind: str, example: str):
        super().__init__(kind)
        self.kind, self.example = kind, example
