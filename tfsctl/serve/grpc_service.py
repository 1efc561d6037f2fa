"""TF Serving's gRPC API with the official protos: PredictionService and ModelService."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tfsctl.serve.core import Core, Target
from tfsctl.serve.loader import RunError, make_ndarray, make_tensor_proto
from tfsctl.serve.manager import FailedPrecondition, NotFound
from tfsctl.serverconfig.model_config import ModelConfigError, from_proto

_STATE_CODES = {"UNKNOWN": 0, "START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40,
                "END": 50}


def _target(spec: Any) -> Target:
    which = spec.WhichOneof("version_choice")
    return Target(spec.name, spec.version.value if which == "version" else None,
                  spec.version_label if which == "version_label" else None,
                  spec.signature_name)


def _guard(method: Callable[..., Any]) -> Callable[..., Any]:
    """Map tfsctl's errors to gRPC status codes, as TF Serving does."""
    def wrapped(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except NotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except (RunError, ValueError) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except FailedPrecondition as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    wrapped.__name__ = method.__name__
    return wrapped


def _examples(request_input: Any) -> list[bytes]:
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in request_input.example_list.examples]
    if kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        out = []
        for example in request_input.example_list_with_context.examples:
            merged = type(example)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            out.append(merged.SerializeToString())
        return out
    raise RunError("Input is empty")


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core: Core):
        self.core = core

    def _spec(self, target: Target, version: int) -> Any:
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=target.model, signature_name=target.signature_name
                                   or "serving_default")
        spec.version.value = version
        return spec

    @_guard
    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request.model_spec)
        inputs = {k: make_ndarray(v) for k, v in request.inputs.items()}
        version, outputs = self.core.predict(target, inputs, list(request.output_filter) or None)
        response = predict_pb2.PredictResponse(model_spec=self._spec(target, version))
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(make_tensor_proto(value))
        return response

    @_guard
    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        if list(request.metadata_field) != ["signature_def"]:
            raise RunError("Metadata field signature_def is the only one supported")
        target = _target(request.model_spec)
        version, signatures = self.core.metadata(target)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in signatures.items():
            signature_map.signature_def[name].CopyFrom(signature)
        response = get_model_metadata_pb2.GetModelMetadataResponse(
            model_spec=self._spec(Target(target.model, signature_name=""), version))
        response.model_spec.signature_name = ""
        response.metadata["signature_def"].Pack(signature_map)
        return response

    @_guard
    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request.model_spec)
        version, rows = self.core.classify(target, _examples(request.input))
        response = classification_pb2.ClassificationResponse(model_spec=self._spec(target, version))
        for row in rows:
            classifications = response.result.classifications.add()
            for label, score in row:
                classifications.classes.add(label=label, score=score)
        return response

    @_guard
    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        target = _target(request.model_spec)
        version, values = self.core.regress(target, _examples(request.input))
        response = regression_pb2.RegressionResponse(model_spec=self._spec(target, version))
        for value in values:
            response.result.regressions.add(value=value)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core: Core, on_reload: Callable[[], None] = lambda: None):
        self.core = core
        self.on_reload = on_reload

    @_guard
    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        spec = request.model_spec
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for slot in self.core.manager.status(spec.name, version):
            status = response.model_version_status.add(version=slot.version,
                                                       state=_STATE_CODES[slot.state.value])
            status.status.error_code = 2 if slot.error else 0
            status.status.error_message = slot.error
        return response

    def HandleReloadConfigRequest(self, request: Any, context: grpc.ServicerContext  # noqa: N802
                                  ) -> Any:
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.manager.set_config(from_proto(request.config))
            self.on_reload()
        except FailedPrecondition as exc:
            response.status.error_code = 9  # FAILED_PRECONDITION
            response.status.error_message = str(exc)
        except (ModelConfigError, ValueError) as exc:
            response.status.error_code = 3  # INVALID_ARGUMENT
            response.status.error_message = str(exc)
        return response
