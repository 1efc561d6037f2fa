"""The gRPC API with the official tensorflow_serving.apis protos and stubs."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def stubs(serve, models: Path):  # noqa: ANN001, ANN201
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    server = serve("--model_name=half_plus_two",
                   f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    with grpc.insecure_channel(server.grpc_address) as channel:
        yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
               model_service_pb2_grpc.ModelServiceStub(channel))


def _tf():
    from tfsctl.tfenv import import_tensorflow

    return import_tensorflow()


def _predict_request(name: str = "half_plus_two", values=(1.0, 2.0, 5.0)):  # noqa: ANN001, ANN202
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(_tf().make_tensor_proto(
        np.array([[v] for v in values], dtype=np.float32)))
    return request


def _code(call) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def test_predict(stubs) -> None:  # noqa: ANN001
    predict, _ = stubs
    response = predict.Predict(_predict_request(), timeout=30)
    assert _tf().make_ndarray(response.outputs["y"]).ravel().tolist() == [2.5, 3.0, 4.5]
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == ("half_plus_two", 123, "serving_default")
    request = _predict_request()
    request.output_filter.append("y")
    assert list(predict.Predict(request, timeout=30).outputs) == ["y"]


def test_predict_errors_carry_tf_servings_codes(stubs) -> None:  # noqa: ANN001
    from tensorflow_serving.apis import predict_pb2

    predict, _ = stubs
    assert _code(lambda: predict.Predict(_predict_request("nope"), timeout=30)) == (
        grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)")
    request = _predict_request()
    request.model_spec.version.value = 7
    assert _code(lambda: predict.Predict(request, timeout=30))[0] == grpc.StatusCode.NOT_FOUND
    request = _predict_request()
    request.model_spec.signature_name = "nope"
    assert _code(lambda: predict.Predict(request, timeout=30)) == (
        grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.')
    request = _predict_request()
    request.output_filter.append("z")
    assert _code(lambda: predict.Predict(request, timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "output tensor alias not found in signature: z Outputs expected to be in the set {y}.")
    request = _predict_request()
    request.inputs["extra"].CopyFrom(request.inputs["x"])
    code, message = _code(lambda: predict.Predict(request, timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and message.startswith(
        "input size does not match signature: 2!=1")
    assert _code(lambda: predict.Predict(predict_pb2.PredictRequest(), timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_metadata(stubs) -> None:  # noqa: ANN001
    from tensorflow_serving.apis import get_model_metadata_pb2

    predict, _ = stubs
    response = predict.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": "half_plus_two"}, metadata_field=["signature_def"]), timeout=30)
    assert response.model_spec.version.value == 123
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert set(signatures.signature_def) == {"serving_default", "classify_x_to_y",
                                             "regress_x_to_y", "regress_x_to_y2",
                                             "regress_x2_to_y3"}
    assert _code(lambda: predict.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": "half_plus_two"}), timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "GetModelMetadataRequest must specify at least one metadata_field")


def test_classify_and_regress(stubs) -> None:  # noqa: ANN001
    from tensorflow.core.example import example_pb2
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    predict, _ = stubs
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    request = regression_pb2.RegressionRequest(model_spec={"name": "half_plus_two",
                                                           "signature_name": "regress_x_to_y"})
    request.input.example_list.examples.append(example)
    response = predict.Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [3.0]
    assert response.model_spec.version.value == 123
    request = classification_pb2.ClassificationRequest(
        model_spec={"name": "half_plus_two", "signature_name": "classify_x_to_y"})
    request.input.example_list.examples.append(example)
    classes = predict.Classify(request, timeout=30).result.classifications[0].classes
    assert [(c.label, c.score) for c in classes] == [("", 3.0)]
    request.ClearField("input")
    assert _code(lambda: predict.Classify(request, timeout=30)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")


def test_model_status(stubs) -> None:  # noqa: ANN001
    from tensorflow_serving.apis import get_model_status_pb2

    _, model = stubs
    status = model.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "half_plus_two"}), timeout=30)
    [version] = status.model_version_status
    assert (version.version, version.state, version.status.error_code) == (
        123, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0)
    assert _code(lambda: model.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
        model_spec={"name": "nope"}), timeout=30)) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope")


def test_grpc_on_a_unix_socket_only(tmp_path: Path, models: Path) -> None:
    import subprocess

    import requests
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from tests.support.net import free_port
    from tests.support.serve import Server as Handle
    from tests.support.serve import server_command, stop_server

    socket_path = tmp_path / "tfs.sock"
    rest = free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(server_command(
            "--port=0", f"--grpc_socket_path={socket_path}", "--host=127.0.0.1",
            f"--rest_api_port={rest}", "--model_name=half_plus_two",
            f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}"), stdout=out,
            stderr=subprocess.STDOUT)
    server = Handle(process, 0, rest, log)
    try:
        server.wait_for(lambda: _answers(requests, server.url))
        with grpc.insecure_channel(f"unix:{socket_path}") as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                _predict_request(), timeout=30)
        assert response.model_spec.version.value == 123
    finally:
        assert stop_server(server) == 0


def _answers(requests, url: str) -> bool:  # noqa: ANN001
    try:
        return requests.get(url + "/v1/models/half_plus_two", timeout=1).ok
    except requests.RequestException:
        return False
