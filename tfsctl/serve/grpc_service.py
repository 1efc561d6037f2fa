"""TF Serving's gRPC API: PredictionService and ModelService.

The services are registered under TF Serving's own names
(/tensorflow.serving.PredictionService/Predict, ...) with tfsctl's bindings of
their messages (tfsctl.protos), which encode exactly as TF Serving's do, so any
TF Serving client works unchanged.

Failures are gRPC statuses with TF Serving's canonical code and message (cut
at 1024 characters, as its ToGRPCStatus does); an exception that is not a
ServingError is a defect, logged with its traceback and answered INTERNAL,
never gRPC's UNKNOWN "Exception calling application". Predict inputs are
checked against the request limits from their declared shapes before they
are turned into arrays. HandleReloadConfigRequest
answers as TF Serving does: the outcome is both the response's `status` and
the call's own gRPC status, so a refused config is an RpcError on the client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from tfsctl.protos import model_service_pb2, prediction_service_pb2
from tfsctl.serve.configfiles import entries_from_proto
from tfsctl.serve.core import Core, Target, serialized_examples
from tfsctl.serve.loader import make_ndarray, tensor_itemsize
from tfsctl.serve.metrics import Metrics
from tfsctl.serve.predict_wire import WirePredict, read_predict
from tfsctl.serve.tensor_protos import predict_response
from tfsctl.servingapi.limits import RequestLimits
from tfsctl.servingapi.status import Code, ServingError, invalid

log = logging.getLogger("tfsctl.serve")

_MESSAGE_LIMIT = 1024
#: GetModelMetadata's signatures travel in an Any named by TF Serving's type, which is
#: what clients unpack (tfsctl's own SignatureDefMap encodes identically).
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"


def _target(request: Any) -> Target:
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    spec = request.model_spec
    which = spec.WhichOneof("version_choice")
    return Target(spec.name, spec.version.value if which == "version" else None,
                  spec.version_label if which == "version_label" else None, spec.signature_name)


def _model_spec(name: str, version: int, signature_name: str) -> model_service_pb2.ModelSpec:
    spec = model_service_pb2.ModelSpec(name=name, signature_name=signature_name)
    spec.version.value = version
    return spec


def _abort(context: grpc.ServicerContext, error: ServingError) -> None:
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "...TRUNCATED"
    context.abort(getattr(grpc.StatusCode, error.code.name), message)


def _internal(exc: Exception) -> ServingError:
    log.error("gRPC call failed", exc_info=exc)
    return ServingError(Code.INTERNAL, f"Internal error: {type(exc).__name__}")


def _rpc(api: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Answer ServingError with its gRPC status; with `api`, count the request in the metrics."""
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
            started = time.monotonic()
            code = Code.OK
            try:
                return method(self, request, context)
            except ServingError as exc:
                code = exc.code
                _abort(context, exc)
            except Exception as exc:  # noqa: BLE001 - a defect still gets a status, and is logged
                code = Code.INTERNAL
                _abort(context, _internal(exc))
            finally:
                if api is not None:
                    self.metrics.observe_request(request.model_spec.name, api, "GRPC", code,
                                                 time.monotonic() - started)
        wrapped.__name__ = method.__name__
        return wrapped
    return decorate


class PredictionServicer:
    def __init__(self, core: Core, metrics: Metrics, limits: RequestLimits,
                 tensor_content: bool = False):
        self.core = core
        self.metrics = metrics
        self.limits = limits
        #: --enable_serialization_as_tensor_content: outputs as raw bytes, not typed fields
        self.tensor_content = tensor_content

    @_rpc("Predict")
    def Predict(self, request: WirePredict, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request.message)
        self.limits.check_tensors(
            (alias, [dim.size for dim in tensor.tensor_shape.dim], tensor_itemsize(tensor))
            for alias, tensor in request.inputs.items())
        inputs = {k: make_ndarray(k, v) for k, v in request.inputs.items()}
        request.inputs.clear()  # the arrays hold the values now (views of the request bytes)
        request.message.ClearField("inputs")
        result, outputs = self.core.predict(target, inputs,
                                            list(request.message.output_filter) or None)
        del inputs
        spec = _model_spec(target.model, result.version, result.signature_name)
        return predict_response(outputs, spec.SerializeToString(), self.tensor_content)

    @_rpc("GetModelMetadata")
    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request)
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise invalid(f"Metadata field {field} is not supported")
        result, signatures = self.core.metadata(target)
        signature_map = prediction_service_pb2.SignatureDefMap()
        for name, signature in signatures.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response = prediction_service_pb2.GetModelMetadataResponse(
            model_spec=_model_spec(target.model, result.version, ""))
        packed = response.metadata["signature_def"]
        packed.type_url = SIGNATURE_DEF_MAP_URL
        packed.value = signature_map.SerializeToString()
        return response

    @_rpc("Classify")
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request)
        result, rows = self.core.classify(target, serialized_examples(request.input))
        response = prediction_service_pb2.ClassificationResponse(
            model_spec=_model_spec(target.model, result.version, target.signature_name))
        for row in rows:
            classifications = response.result.classifications.add()
            for label, score in row:
                classifications.classes.add(label=label, score=score)
        return response

    @_rpc("Regress")
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request)
        result, values = self.core.regress(target, serialized_examples(request.input))
        response = prediction_service_pb2.RegressionResponse(
            model_spec=_model_spec(target.model, result.version, target.signature_name))
        for value in values:
            response.result.regressions.add(value=value)
        return response


class ModelServicer:
    def __init__(self, core: Core):
        self.core = core

    @_rpc(None)
    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request)
        response = model_service_pb2.GetModelStatusResponse()
        for version, state, code, message in self.core.manager.status(target.model, target.version):
            status = response.model_version_status.add(
                version=version, state=model_service_pb2.ModelVersionStatus.State.Value(state))
            status.status.error_code = Code[code].value
            status.status.error_message = message
        return response

    def HandleReloadConfigRequest(self, request: Any, context: grpc.ServicerContext  # noqa: N802
                                  ) -> Any:
        response = model_service_pb2.ReloadConfigResponse()
        try:
            if request.config.WhichOneof("config") != "model_config_list":
                raise invalid("ServerModelConfig type not supported by HandleReloadConfigRequest. "
                              "Only ModelConfigList is currently supported")
            self.core.manager.set_config(entries_from_proto(request.config))
        except Exception as exc:  # noqa: BLE001 - answered with its status; defects are logged
            error = exc if isinstance(exc, ServingError) else _internal(exc)
            response.status.error_code = model_service_pb2.Code.Value(error.code.name)
            response.status.error_message = error.message
            _abort(context, error)
        return response


def _handler(service: str, servicer: Any, methods: dict[str, tuple[Any, Any]]) -> grpc.GenericRpcHandler:
    """`servicer`'s unary methods under `service`, each with its request's reader (a type's
    FromString) and its response type; a response type of None means the method answers
    with bytes it serialised itself."""
    return grpc.method_handlers_generic_handler(service, {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=read,
            response_serializer=response.SerializeToString if response else None)
        for name, (read, response) in methods.items()})


def add_services(server: grpc.Server, prediction: PredictionServicer, model: ModelServicer) -> None:
    """Register both services on `server` under TF Serving's service names. A method not
    served here (MultiInference) is UNIMPLEMENTED, as it is for TF Serving's own stubs."""
    apis, status = prediction_service_pb2, model_service_pb2
    server.add_generic_rpc_handlers((
        _handler("tensorflow.serving.PredictionService", prediction, {
            # read on the wire (predict_wire.py), answered by tensor_protos.predict_response
            "Predict": (read_predict, None),
            "GetModelMetadata": (apis.GetModelMetadataRequest.FromString,
                                 apis.GetModelMetadataResponse),
            "Classify": (apis.ClassificationRequest.FromString, apis.ClassificationResponse),
            "Regress": (apis.RegressionRequest.FromString, apis.RegressionResponse),
        }),
        _handler("tensorflow.serving.ModelService", model, {
            "GetModelStatus": (status.GetModelStatusRequest.FromString,
                               status.GetModelStatusResponse),
            "HandleReloadConfigRequest": (status.ReloadConfigRequest.FromString,
                                          status.ReloadConfigResponse),
        }),
    ))
