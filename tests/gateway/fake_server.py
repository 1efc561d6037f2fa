"""A stand-in TF Serving for the gateway's unit tests: an in-process grpc.aio server with
PredictionService's Predict and GetModelMetadata and ModelService's GetModelStatus, on
tfsctl's own messages. Model `double` answers y = 2x; model `broken` answers
INVALID_ARGUMENT; model `stuck` never answers (until the test ends)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from tfsctl.gateway.tensors import from_proto, to_proto
from tfsctl.protos import gateway_pb2, model_service_pb2

FLOAT, INT32 = 1, 3


def _signature() -> bytes:
    signature = gateway_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    x = signature.inputs["x"]
    x.name, x.dtype = "x:0", FLOAT
    x.tensor_shape.dim.add(size=-1)
    scale = signature.inputs["scale"]
    scale.name, scale.dtype = "scale:0", INT32  # a scalar
    signature.outputs["y"].dtype = FLOAT
    return gateway_pb2.SignatureDefMap(signature_def={"serving_default": signature}
                                       ).SerializeToString()


class FakeServing:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.requests: list[gateway_pb2.PredictRequest] = []
        self.metadata_calls = 0

    async def predict(self, request: gateway_pb2.PredictRequest, context: Any) -> Any:
        self.requests.append(request)
        name = request.model_spec.name
        if name == "broken":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Incompatible shapes: [2] vs. [3]")
        if name == "stuck":
            await self.release.wait()
        x = from_proto(request.inputs["x"])
        scale = from_proto(request.inputs["scale"]) if "scale" in request.inputs else 2
        response = gateway_pb2.PredictResponse()
        response.outputs["y"].CopyFrom(to_proto(x * scale, FLOAT, None, "y"))
        return response

    async def metadata(self, request: gateway_pb2.GetModelMetadataRequest, context: Any) -> Any:
        self.metadata_calls += 1
        if request.model_spec.name == "missing":
            await context.abort(grpc.StatusCode.NOT_FOUND, "Servable not found for request: "
                                                           "Latest(missing)")
        response = gateway_pb2.GetModelMetadataResponse(model_spec=request.model_spec)
        response.metadata["signature_def"].type_url = \
            "type.googleapis.com/tensorflow.serving.SignatureDefMap"
        response.metadata["signature_def"].value = _signature()
        return response

    async def status(self, request: Any, context: Any) -> Any:
        state = model_service_pb2.ModelVersionStatus.State
        return model_service_pb2.GetModelStatusResponse(model_version_status=[
            model_service_pb2.ModelVersionStatus(
                version=1, state=state.LOADING if request.model_spec.name == "loading"
                else state.AVAILABLE)])

    async def start(self) -> int:
        def unary(method: Any, request_type: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                method, request_deserializer=request_type.FromString,
                response_serializer=lambda m: m.SerializeToString())

        self.server = grpc.aio.server()
        self.server.add_generic_rpc_handlers([
            grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
                "Predict": unary(self.predict, gateway_pb2.PredictRequest),
                "GetModelMetadata": unary(self.metadata, gateway_pb2.GetModelMetadataRequest)}),
            grpc.method_handlers_generic_handler("tensorflow.serving.ModelService", {
                "GetModelStatus": unary(self.status, model_service_pb2.GetModelStatusRequest)}),
        ])
        port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        return port

    async def stop(self) -> None:
        self.release.set()
        await self.server.stop(None)
