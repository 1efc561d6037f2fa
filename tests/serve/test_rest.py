"""The REST API against TF Serving's own test models, expected answers and error messages."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.serve import block, stop_server, write_config

pytestmark = pytest.mark.slow

HPT = "--model_name=half_plus_two"


@pytest.fixture
def hpt(serve, models: Path):  # noqa: ANN001, ANN201
    return serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")


def test_predict_row_and_columnar(hpt) -> None:  # noqa: ANN001
    row = hpt.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]})
    assert row.status_code == 200 and row.json() == {"predictions": [2.5, 3.0, 4.5]}
    assert row.headers["Content-Type"] == "application/json"
    assert hpt.post("/v1/models/half_plus_two/versions/123:predict",
                    {"inputs": {"x": [[1.0], [2.0]]}}).json() == {"outputs": [[2.5], [3.0]]}
    assert hpt.post("/v1/models/half_plus_two:predict",
                    {"inputs": [2.0, 3.0, 4.0]}).json() == {"outputs": [3.0, 3.5, 4.0]}
    named = hpt.post("/v1/models/half_plus_two:predict",
                     {"signature_name": "serving_default", "instances": [{"x": 5.0}]})
    assert named.json() == {"predictions": [4.5]}
    # float32 results are written without float32 noise digits, as TF Serving writes them
    assert hpt.post("/v1/models/half_plus_two:predict", {"instances": [0.1]}).text.replace(
        " ", "") == '{"predictions":[2.05]}'


def test_paths_are_case_insensitive_and_url_decoded(hpt) -> None:  # noqa: ANN001
    response = hpt.post("/V1/Models/half%5Fplus%5Ftwo:PREDICT", {"instances": [1.0]})
    assert response.status_code == 200 and response.json() == {"predictions": [2.5]}


@pytest.mark.parametrize("method,path,body,status,message", [
    ("POST", "/v1/models/nope:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/half_plus_two/versions/7:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Specific(half_plus_two, 7)"),
    ("POST", "/v1/models/half_plus_two/labels/canary:predict", {"instances": [1.0]}, 400,
     "Unrecognized servable version label: canary"),
    ("POST", "/v1/models/half_plus_two:predict", {"nothing": 1}, 400,
     "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/half_plus_two:predict", {"instances": ["a"]}, 400,
     'Failed to process element: 0 of \'instances\' list. Error: INVALID_ARGUMENT: JSON Value: '
     '"a" Type: String is not of expected type: float'),
    ("POST", "/v1/models/half_plus_two:predict", {"signature_name": "nope", "instances": [1.0]},
     400, 'Serving signature name: "nope" not found in signature def'),
    ("POST", "/v1/models/half_plus_two:predict", {"signature_name": 7, "instances": [1.0]}, 400,
     "'signature_name' key must be a string value."),
    ("POST", "/v1/models/half_plus_two:explain", {"instances": [1.0]}, 400,
     "Malformed request: POST /v1/models/half_plus_two:explain"),
    ("PUT", "/v1/models/half_plus_two", {}, 400, "Malformed request: PUT /v1/models/half_plus_two"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/half_plus_two/versions/7", None, 404,
     "Could not find version 7 of model half_plus_two"),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/half_plus_two:regress", {"examples": [{"x": 1.0}]}, 400,
     "Expected regression signature method_name to be tensorflow/serving/regress. Was: "
     "tensorflow/serving/predict"),
    ("POST", "/v1/models/half_plus_two:classify", {"signature_name": "classify_x_to_y"}, 400,
     "key 'examples' is expected and was not found"),
])
def test_errors_match_tf_serving(hpt, method: str, path: str, body: object, status: int,  # noqa: ANN001
                                 message: str) -> None:
    response = requests.request(method, hpt.url + path, json=body, timeout=30)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"} and response.json()["error"].endswith(message)


def test_body_errors(hpt) -> None:  # noqa: ANN001
    url = hpt.url + "/v1/models/half_plus_two:predict"
    empty = requests.post(url, data=b"", timeout=30)
    assert (empty.status_code, empty.json()) == (400, {"error": "JSON Parse error: The document "
                                                                "is empty"})
    broken = requests.post(url, data=b"{", timeout=30)
    assert broken.status_code == 400 and broken.json()["error"].startswith("JSON Parse error")
    assert requests.get(hpt.url + "/elsewhere", timeout=30).status_code == 404


def test_status_shapes(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    two = models / "saved_model_half_plus_two_2_versions"
    config = write_config(tmp_path / "model.config", block("two", two, "model_version_policy { all {} }",
                                                           {"stable": 123}))
    server = serve(f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models")
    ok = {"error_code": "OK", "error_message": ""}
    assert server.get("/v1/models/two").json() == {"model_version_status": [
        {"version": "124", "state": "AVAILABLE", "status": ok},
        {"version": "123", "state": "AVAILABLE", "status": ok}]}
    assert server.get("/v1/models/two/versions/123").json() == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": ok}]}
    # TF Serving answers a status request by label with every version of the model
    assert server.get("/v1/models/two/labels/stable").json() == server.get("/v1/models/two").json()
    assert server.post("/v1/models/two/labels/stable:predict", {"instances": [[1.0]]}).json() == {
        "predictions": [[2.5]]}


@pytest.mark.parametrize("model,expected_file", [
    ("saved_model_half_plus_two_cpu", "half_plus_two_model_metadata.json"),
    ("saved_model_half_plus_two_2_versions", "saved_model_half_plus_two_2_versions_metadata.json"),
])
def test_metadata_matches_tf_servings_expected_json(serve, models: Path, tfs_testdata: Path,  # noqa: ANN001
                                                    tmp_path: Path, model: str,
                                                    expected_file: str) -> None:
    expected = json.loads((tfs_testdata / expected_file).read_text())
    name = expected["model_spec"]["name"]
    config = write_config(tmp_path / "model.config",
                          block(name, models / model, "model_version_policy { all {} }"))
    server = serve(f"--model_config_file={config}")
    version = expected["model_spec"]["version"]
    # like TF Serving, the server opens its ports once each model's newest version loaded;
    # an older one may still be loading
    server.wait_for(lambda: any(
        s["version"] == version and s["state"] == "AVAILABLE"
        for s in server.get(f"/v1/models/{name}").json()["model_version_status"]), timeout=120)
    assert server.get(f"/v1/models/{name}/versions/{version}/metadata").json() == expected


def test_classify_and_regress(hpt) -> None:  # noqa: ANN001
    assert hpt.post("/v1/models/half_plus_two:regress", {
        "signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 3.0}]}).json() == {
        "results": [2.5, 3.5]}
    assert hpt.post("/v1/models/half_plus_two:classify", {
        "signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}).json() == {
        "results": [[["", 3.0]]]}
    # the context is merged under every example; an example's own feature wins
    assert hpt.post("/v1/models/half_plus_two:regress", {
        "signature_name": "regress_x_to_y", "context": {"x": 4.0},
        "examples": [{}, {"x": 0.0}]}).json() == {"results": [4.0, 2.0]}
    mixed = hpt.post("/v1/models/half_plus_two:regress", {
        "signature_name": "regress_x_to_y", "examples": [{"x": [1.0, "a"]}]})
    assert mixed.status_code == 400 and mixed.json() == {
        "error": "Unexpected element type in feature: x expecting type: float"}


def test_cors_when_enabled(serve, models: Path) -> None:  # noqa: ANN001
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}",
                   "--rest_api_enable_cors_support")
    response = server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(server.url + "/v1/models/half_plus_two:predict",
                                 headers={"Origin": "http://example.com"}, timeout=30)
    assert preflight.status_code == 200
    no_origin = requests.options(server.url + "/v1/models/half_plus_two:predict", timeout=30)
    assert no_origin.status_code == 400


def test_concurrent_predicts_all_succeed(hpt) -> None:  # noqa: ANN001
    def one(i: int) -> list[float]:
        response = hpt.post("/v1/models/half_plus_two:predict", {"instances": [float(i)]})
        assert response.status_code == 200
        return response.json()["predictions"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(200)))
    assert results == [[0.5 * i + 2] for i in range(200)]


def test_metrics_when_monitoring_is_enabled(serve, models: Path, tfs_testdata: Path) -> None:  # noqa: ANN001
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}",
                   f"--monitoring_config_file={tfs_testdata / 'monitoring_config.txt'}",
                   "--enable_batching",
                   f"--batching_parameters_file={tfs_testdata / 'batching_config.txt'}")
    assert server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]}).status_code == 200
    assert server.post("/v1/models/half_plus_two/versions/9:predict",
                       {"instances": [1.0]}).status_code == 404
    response = server.get("/monitoring/prometheus/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"] == "text/plain"
    text = response.text
    assert ':tensorflow:serving:request_count{model_name="half_plus_two",status="OK"} 1' in text
    assert ':tensorflow:serving:request_count{model_name="half_plus_two",status="NOT_FOUND"} 1' in text
    assert ':tensorflow:serving:request_latency_count{model_name="half_plus_two",API="predict",' \
           'entrypoint="REST"} 1' in text
    assert (':tensorflow:serving:servable_state{model_name="half_plus_two",version="123",'
            'state="AVAILABLE"} 1') in text
    assert stop_server(server) == 0


def test_no_metrics_path_without_monitoring(hpt) -> None:  # noqa: ANN001
    assert hpt.get("/monitoring/prometheus/metrics").status_code == 404


def test_batching_serves_concurrent_requests(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    params = tmp_path / "batching.txt"
    params.write_text("max_batch_size { value: 16 } batch_timeout_micros { value: 5000 } "
                      "num_batch_threads { value: 2 } allowed_batch_sizes: 8 "
                      "allowed_batch_sizes: 16")
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}",
                   "--enable_batching", f"--batching_parameters_file={params}")

    def one(i: int) -> list[float]:
        response = server.post("/v1/models/half_plus_two:predict", {"instances": [float(i), 1.0]})
        assert response.status_code == 200, response.text
        return response.json()["predictions"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, range(100))) == [[0.5 * i + 2, 2.5] for i in range(100)]
    too_big = server.post("/v1/models/half_plus_two:predict", {"instances": [1.0] * 17})
    assert too_big.status_code == 400 and too_big.json() == {
        "error": "Task size 17 is larger than maximum input batch size 16"}
