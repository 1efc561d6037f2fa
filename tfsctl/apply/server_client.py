"""Talking to a running server during apply: reload its config, send predicts.

The reload goes over gRPC (`ModelService.HandleReloadConfigRequest`, the only
way TF Serving accepts a new config without a restart) with the official
protos; importing them pulls in TensorFlow's protos, so this module is only
imported by apply. Predicts go over REST, as a user would send them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import requests

from tfsctl.endpoints import Endpoint
from tfsctl.errors import TfsctlError
from tfsctl.runtimes.base import RuntimeDriver
from tfsctl.serverconfig.model_config import ModelEntry, to_proto
from tfsctl.tfenv import import_tensorflow


class ReloadRefused(TfsctlError):
    """The server answered the reload with an error (it keeps its previous config)."""


def reload_config(endpoint: Endpoint, entries: Iterable[ModelEntry], timeout: float = 120.0) -> None:
    """Replace the server's whole model config; returns when the server accepted it."""
    import grpc

    import_tensorflow()  # the serving protos import TensorFlow's; keep its banner quiet
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc

    request = model_management_pb2.ReloadConfigRequest(config=to_proto(entries))
    with grpc.insecure_channel(endpoint.grpc) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            response = stub.HandleReloadConfigRequest(request, timeout=timeout)
        except grpc.RpcError as exc:
            raise ReloadRefused(f"reload over gRPC at {endpoint.grpc} failed: "
                                f"{exc.code().name}: {exc.details()}",
                                "check that the server is up and its gRPC port is reachable"
                                ) from None
    if response.status.error_code != 0:
        raise ReloadRefused(f"the server refused the new config: {response.status.error_message}",
                            "the server keeps its previous config; fix the spec and apply again")


def predict(endpoint: Endpoint, model: str, body: dict[str, Any], version: int | None = None,
            label: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    path = f"/v1/models/{model}"
    if version is not None:
        path += f"/versions/{version}"
    elif label is not None:
        path += f"/labels/{label}"
    response = requests.post(f"{endpoint.rest}{path}:predict", data=json.dumps(body),
                             timeout=timeout)
    try:
        answer = response.json()
    except ValueError:
        answer = {"error": response.text[:200]}
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {answer.get('error', answer)}")
    return answer


def reloader(runtime: RuntimeDriver, timeout: float) -> Callable[[tuple[ModelEntry, ...]], None]:
    """A reload that sends the model config to every server process the runtime runs."""
    def reload(entries: tuple[ModelEntry, ...]) -> None:
        for endpoint in runtime.endpoints():
            reload_config(endpoint, entries, timeout=timeout)

    return reload
