"""Talking to a running server during apply: reload its config, ask a model's status, predict.

The reload goes over gRPC (`ModelService.HandleReloadConfigRequest`, the only
way TF Serving accepts a new config without a restart), and so does the status
apply waits on (`GetModelStatus`): both are called by their real method paths
with tfsctl's own message types (tfsctl.protos), which encode exactly as TF
Serving's do and import no TensorFlow. Predicts go over REST, as a user would
send them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import requests

from tfsctl.endpoints import Endpoint
from tfsctl.errors import TfsctlError
from tfsctl.live.state import ServedModel, ServedVersion, VersionState
from tfsctl.protos import model_service_pb2
from tfsctl.runtimes.base import RuntimeDriver
from tfsctl.serverconfig.model_config import ModelEntry, to_proto

MODEL_SERVICE = "/tensorflow.serving.ModelService"


class ReloadRefused(TfsctlError):
    """The server answered the reload with an error (it keeps its previous config)."""


def _call(endpoint: Endpoint, method: str, request: Any, response_type: Any, timeout: float) -> Any:
    """One unary call of ModelService `method`; grpc.RpcError when it fails."""
    import grpc

    with grpc.insecure_channel(endpoint.grpc) as channel:
        rpc = channel.unary_unary(f"{MODEL_SERVICE}/{method}",
                                  request_serializer=type(request).SerializeToString,
                                  response_deserializer=response_type.FromString)
        return rpc(request, timeout=timeout)


def reload_config(endpoint: Endpoint, entries: Iterable[ModelEntry], timeout: float = 120.0) -> None:
    """Replace the server's whole model config; returns when the server accepted it."""
    import grpc

    request = model_service_pb2.ReloadConfigRequest(config=to_proto(entries))
    try:
        response = _call(endpoint, "HandleReloadConfigRequest", request,
                         model_service_pb2.ReloadConfigResponse, timeout)
    except grpc.RpcError as exc:
        raise ReloadRefused(f"reload over gRPC at {endpoint.grpc} failed: "
                            f"{exc.code().name}: {exc.details()}",
                            "check that the server is up and its gRPC port is reachable"
                            ) from None
    if response.status.error_code != 0:
        raise ReloadRefused(f"the server refused the new config: {response.status.error_message}",
                            "the server keeps its previous config; fix the spec and apply again")


def model_status(endpoint: Endpoint, model: str, timeout: float = 2.0) -> ServedModel | None:
    """What the server says about `model` (GetModelStatus); None when it does not answer."""
    import grpc

    request = model_service_pb2.GetModelStatusRequest(
        model_spec=model_service_pb2.ModelSpec(name=model))
    try:
        response = _call(endpoint, "GetModelStatus", request,
                         model_service_pb2.GetModelStatusResponse, timeout)
    except grpc.RpcError as exc:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return None
        return ServedModel(model, (), error=f"{exc.code().name}: {exc.details()}")
    return ServedModel(model, tuple(sorted(
        (_served_version(status) for status in response.model_version_status),
        key=lambda v: v.version)))


def _served_version(status: Any) -> ServedVersion:
    state_name = model_service_pb2.ModelVersionStatus.State.Name(status.state)
    code = status.status.error_code
    return ServedVersion(status.version, VersionState(state_name),
                         model_service_pb2.Code.Name(code) if code in model_service_pb2.Code.values()
                         else str(code), status.status.error_message)


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
