"""The gateway's side of gRPC: one long-lived channel to the server, every model's
signature read once, and all the models of a request called concurrently.

Methods are called by their real paths with tfsctl's own messages (see
tfsctl/protos/gateway.proto). A failed call becomes a `ModelCallError` carrying the
model, its gRPC status and message, which the app answers with 502 (504 for a deadline).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np

from tfsctl.gateway.handler import Target
from tfsctl.gateway.tensors import from_proto, to_proto
from tfsctl.protos import gateway_pb2, model_service_pb2

PREDICTION_SERVICE = "/tensorflow.serving.PredictionService"
MODEL_SERVICE = "/tensorflow.serving.ModelService"
AVAILABLE = model_service_pb2.ModelVersionStatus.State.AVAILABLE
#: gRPC messages as large as TF Serving's own default limit allows
MAX_MESSAGE_BYTES = 2**31 - 1


class ModelCallError(Exception):
    """TF Serving answered a call with an error (or did not answer in time)."""

    def __init__(self, model: str, code: grpc.StatusCode, message: str):
        super().__init__(f"model {model!r}: {code.name}: {message}")
        self.model = model
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Signature:
    """A signature's inputs: name -> (dtype, shape; None when its rank is unknown)."""

    inputs: Mapping[str, tuple[int, tuple[int, ...] | None]]


def _model_spec(name: str, target: Target) -> model_service_pb2.ModelSpec:
    spec = model_service_pb2.ModelSpec(name=name, signature_name=target.signature)
    if target.version is not None:
        spec.version.value = target.version
    elif target.label is not None:
        spec.version_label = target.label
    return spec


def _signature(model: str, target: Target, response: gateway_pb2.GetModelMetadataResponse
               ) -> Signature:
    signatures = gateway_pb2.SignatureDefMap.FromString(response.metadata["signature_def"].value)
    found = signatures.signature_def.get(target.signature)
    if found is None:
        raise ModelCallError(model, grpc.StatusCode.NOT_FOUND,
                             f"no signature {target.signature!r}; it has "
                             f"{', '.join(sorted(signatures.signature_def)) or 'none'}")
    return Signature({name: (info.dtype, None if info.tensor_shape.unknown_rank else
                             tuple(d.size for d in info.tensor_shape.dim))
                      for name, info in found.inputs.items()})


class ModelClient:
    """Calls into one server; create it inside the running event loop."""

    def __init__(self, target: str, deadline: float):
        self.deadline = deadline
        self._channel = grpc.aio.insecure_channel(target, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
        self._predict = self._rpc(PREDICTION_SERVICE, "Predict", gateway_pb2.PredictResponse)
        self._metadata = self._rpc(PREDICTION_SERVICE, "GetModelMetadata",
                                   gateway_pb2.GetModelMetadataResponse)
        self._status = self._rpc(MODEL_SERVICE, "GetModelStatus",
                                 model_service_pb2.GetModelStatusResponse)
        self._signatures: dict[tuple[str, Target], asyncio.Task[Signature]] = {}

    def _rpc(self, service: str, method: str, response: Any) -> Any:
        return self._channel.unary_unary(f"{service}/{method}",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=response.FromString)

    async def _call(self, model: str, rpc: Any, request: Any) -> Any:
        try:
            return await rpc(request, timeout=self.deadline)
        except grpc.aio.AioRpcError as exc:
            raise ModelCallError(model, exc.code(), exc.details() or "") from None

    async def _read_signature(self, model: str, target: Target) -> Signature:
        request = gateway_pb2.GetModelMetadataRequest(model_spec=_model_spec(model, target),
                                                      metadata_field=["signature_def"])
        return _signature(model, target, await self._call(model, self._metadata, request))

    async def signature(self, model: str, target: Target) -> Signature:
        """The model's signature, asked once (a failed ask is asked again next time)."""
        key = (model, target)
        task = self._signatures.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = self._signatures[key] = asyncio.ensure_future(self._read_signature(model, target))
        return await asyncio.shield(task)

    async def predict(self, model: str, target: Target, inputs: Mapping[str, Any]
                      ) -> dict[str, np.ndarray]:
        signature = await self.signature(model, target)
        request = gateway_pb2.PredictRequest(model_spec=_model_spec(model, target))
        for name, value in inputs.items():
            if name not in signature.inputs:
                raise ValueError(f"model {model!r} has no input {name!r}; its signature "
                                 f"{target.signature!r} takes {', '.join(sorted(signature.inputs))}")
            dtype, shape = signature.inputs[name]
            request.inputs[name].CopyFrom(to_proto(value, dtype, shape, f"{model}.{name}"))
        response = await self._call(model, self._predict, request)
        return {name: from_proto(tensor) for name, tensor in response.outputs.items()}

    async def predict_all(self, calls: Mapping[str, Mapping[str, Any]],
                          targets: Mapping[str, Target]) -> dict[str, dict[str, np.ndarray]]:
        """Every model of `calls` at once; the first failure is raised."""
        names = list(calls)
        results = await asyncio.gather(*(self.predict(n, targets.get(n, Target()), calls[n])
                                         for n in names))
        return dict(zip(names, results, strict=True))

    async def states(self, models: Iterable[str]) -> dict[str, str]:
        """Each model's best state: AVAILABLE if a version is, else what the server says."""
        async def one(model: str) -> str:
            request = model_service_pb2.GetModelStatusRequest(
                model_spec=model_service_pb2.ModelSpec(name=model))
            try:
                response = await self._call(model, self._status, request)
            except ModelCallError as exc:
                return exc.code.name
            states = [v.state for v in response.model_version_status]
            if AVAILABLE in states:
                return "AVAILABLE"
            return model_service_pb2.ModelVersionStatus.State.Name(max(states)) if states \
                else "UNKNOWN"

        names = list(models)
        return dict(zip(names, await asyncio.gather(*(one(n) for n in names)), strict=True))

    async def close(self) -> None:
        await self._channel.close()
