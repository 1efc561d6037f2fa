"""`tfsctl serve` against TF Serving's own test models and expected answers."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.serve.conftest import stop_server

pytestmark = pytest.mark.slow

HPT = "--model_name=half_plus_two"


def _tf():
    from tfsctl.tfenv import import_tensorflow

    return import_tensorflow()


def _config(path: Path, blocks: str) -> Path:
    path.write_text(f"model_config_list {{ {blocks} }}")
    return path


def _block(name: str, base: Path, policy: str = "", labels: dict[str, int] | None = None) -> str:
    label_text = "".join(f'version_labels {{ key: "{k}" value: {v} }}' for k, v in
                         (labels or {}).items())
    return (f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
            f"{policy} {label_text} }}")


def test_rest_predict_row_and_columnar(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    row = server.post("/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]})
    assert row.status_code == 200 and row.json() == {"predictions": [2.5, 3.0, 4.5]}
    col = server.post("/v1/models/half_plus_two/versions/123:predict",
                      {"inputs": {"x": [[1.0], [2.0]]}})
    assert col.json() == {"outputs": [[2.5], [3.0]]}
    named = server.post("/v1/models/half_plus_two:predict",
                        {"signature_name": "serving_default", "instances": [{"x": 5.0}]})
    assert named.json() == {"predictions": [4.5]}


def test_rest_errors_match_tf_serving(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    cases = [
        ("/v1/models/nope:predict", {"instances": [1.0]}, 404),
        ("/v1/models/half_plus_two/versions/7:predict", {"instances": [1.0]}, 404),
        ("/v1/models/half_plus_two:predict", {"nothing": 1}, 400),
        ("/v1/models/half_plus_two:predict", {"instances": [1.0], "inputs": [1.0]}, 400),
        ("/v1/models/half_plus_two:predict", {"instances": ["a"]}, 400),
        ("/v1/models/half_plus_two:predict", {"signature_name": "nope", "instances": [1.0]}, 400),
    ]
    for path, body, status in cases:
        response = server.post(path, body)
        assert response.status_code == status, (path, body, response.text)
        assert set(response.json()) == {"error"}
    bad_json = server.post("/v1/models/half_plus_two:predict", None)
    assert bad_json.status_code == 400
    assert server.get("/v1/models/nope").status_code == 404


def test_status_shape(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    assert server.get("/v1/models/half_plus_two").json() == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert server.get("/v1/models/half_plus_two/versions/123").json()["model_version_status"][0][
        "state"] == "AVAILABLE"


@pytest.mark.parametrize("model,expected_file", [
    ("saved_model_half_plus_two_cpu", "half_plus_two_model_metadata.json"),
    ("saved_model_half_plus_two_2_versions", "saved_model_half_plus_two_2_versions_metadata.json"),
])
def test_metadata_matches_tf_servings_expected_json(serve, models: Path, tfs_testdata: Path,
                                                    tmp_path: Path, model: str,
                                                    expected_file: str) -> None:
    expected = json.loads((tfs_testdata / expected_file).read_text())
    name = expected["model_spec"]["name"]
    config = _config(tmp_path / "model.config",
                     _block(name, models / model, "model_version_policy { all {} }"))
    server = serve(f"--model_config_file={config}")
    version = expected["model_spec"]["version"]
    got = server.get(f"/v1/models/{name}/versions/{version}/metadata").json()
    assert got == expected


def test_classify_and_regress(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    regress = server.post("/v1/models/half_plus_two:regress",
                          {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 3.0}]})
    assert regress.json() == {"results": [2.5, 3.5]}
    classify = server.post("/v1/models/half_plus_two:classify",
                           {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]})
    assert classify.json()["results"][0][0][1] == pytest.approx(3.0)
    wrong = server.post("/v1/models/half_plus_two:regress", {"examples": [{"x": 1.0}]})
    assert wrong.status_code == 400  # serving_default is a predict signature


def test_grpc_with_official_protos(serve, models: Path) -> None:
    tf = _tf()
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "half_plus_two"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]],
                                                                    dtype=np.float32)))
        response = stub.Predict(request, timeout=30)
        assert tf.make_ndarray(response.outputs["y"]).ravel().tolist() == [2.5, 3.0, 4.5]
        assert response.model_spec.version.value == 123
        meta = stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec={"name": "half_plus_two"}, metadata_field=["signature_def"]), timeout=30)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        meta.metadata["signature_def"].Unpack(signatures)
        assert "serving_default" in signatures.signature_def
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "half_plus_two"}),
            timeout=30)
        assert status.model_version_status[0].state == 30  # AVAILABLE
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _reload(server, blocks: str):  # noqa: ANN001, ANN202
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(f"model_config_list {{ {blocks} }}", config)
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc}") as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=60)


def test_reload_adds_removes_changes_policy_and_labels(serve, models: Path, tmp_path: Path) -> None:
    _tf()
    two = models / "saved_model_half_plus_two_2_versions"
    config = _config(tmp_path / "model.config", _block("hpt", models / "saved_model_half_plus_two_cpu"))
    server = serve(f"--model_config_file={config}")
    # add a model, policy all
    response = _reload(server, _block("hpt", models / "saved_model_half_plus_two_cpu")
                       + _block("two", two, "model_version_policy { all {} }"))
    assert response.status.error_code == 0, response.status.error_message
    server.wait_for(lambda: {s["version"] for s in server.get("/v1/models/two").json().get(
        "model_version_status", []) if s["state"] == "AVAILABLE"} == {"123", "124"})
    # a label on an AVAILABLE version is accepted; on a version not loaded, refused
    assert _reload(server, _block("two", two, "model_version_policy { all {} }",
                                  {"stable": 124})).status.error_code == 0
    assert server.post("/v1/models/two/labels/stable:predict",
                       {"instances": [[1.0]]}).status_code == 200
    refused = _reload(server, _block("two", two, "model_version_policy { all {} }",
                                     {"stable": 999}))
    assert refused.status.error_code != 0 and "not currently available" in \
        refused.status.error_message
    # hpt was removed by the reload: unloaded
    server.wait_for(lambda: server.post("/v1/models/hpt:predict",
                                        {"instances": [1.0]}).status_code == 404)
    # policy change: specific [123] unloads 124
    assert _reload(server, _block("two", two, "model_version_policy { specific { versions: 123 } }"
                                  )).status.error_code == 0
    server.wait_for(lambda: {s["version"]: s["state"] for s in server.get("/v1/models/two").json()[
        "model_version_status"]}.get("124") == "END")
    assert server.post("/v1/models/two/versions/123:predict", {"instances": [[1.0]]}).status_code == 200


def test_broken_version_does_not_take_others_down(serve, models: Path, tmp_path: Path) -> None:
    base = models / "hpt"
    shutil.copytree(models / "saved_model_half_plus_two_cpu/00000123", base / "1")
    shutil.copytree(models / "saved_model_half_plus_two_cpu/00000123", base / "2")
    (base / "2" / "saved_model.pb").write_bytes(b"corrupt")
    config = _config(tmp_path / "model.config", _block("hpt", base, "model_version_policy { all {} }"))
    server = serve(f"--model_config_file={config}")
    states = {s["version"]: s for s in server.get("/v1/models/hpt").json()["model_version_status"]}
    assert states["1"]["state"] == "AVAILABLE"
    assert states["2"]["state"] == "END" and states["2"]["status"]["error_message"]
    assert server.post("/v1/models/hpt/versions/1:predict", {"instances": [1.0]}).status_code == 200
    # the classic TF1 export in bad_half_plus_two is not a SavedModel: END with an error
    bad = serve("--model_name=bad", f"--model_base_path={models / 'bad_half_plus_two'}")
    assert bad.get("/v1/models/bad").json()["model_version_status"][0]["state"] == "END"


def test_polling_picks_up_a_new_version_and_keeps_availability(serve, models: Path) -> None:
    base = models / "hpt"
    shutil.copytree(models / "saved_model_half_plus_two_cpu/00000123", base / "1")
    server = serve("--model_name=hpt", f"--model_base_path={base}",
                   "--file_system_poll_wait_seconds=1")
    shutil.copytree(models / "saved_model_half_plus_two_cpu/00000123", base / "2")
    server.wait_for(lambda: server.get("/v1/models/hpt").json()["model_version_status"][0] ==
                    {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK",
                                                                      "error_message": ""}})
    states = {s["version"]: s["state"] for s in server.get("/v1/models/hpt").json()[
        "model_version_status"]}
    assert states == {"2": "AVAILABLE", "1": "END"}  # latest 1: the old one unloaded after


def test_concurrent_predicts_all_succeed(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")

    def one(i: int) -> list[float]:
        response = server.post("/v1/models/half_plus_two:predict", {"instances": [float(i)]})
        assert response.status_code == 200
        return response.json()["predictions"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(200)))
    assert results == [[0.5 * i + 2] for i in range(200)]


def test_sigterm_exits_cleanly(serve, models: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=20) == 0


def test_unknown_flag_is_an_error() -> None:
    result = subprocess.run([sys.executable, "-m", "tfsctl.serve", "--model_name=x",
                             "--model_base_path=/tmp", "--no_such_flag=1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "unknown flag --no_such_flag" in result.stderr


def test_metrics_when_monitoring_is_enabled(serve, models: Path, tfs_testdata: Path) -> None:
    server = serve(HPT, f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}",
                   f"--monitoring_config_file={tfs_testdata / 'monitoring_config.txt'}",
                   "--enable_batching",
                   f"--batching_parameters_file={tfs_testdata / 'batching_config.txt'}")
    server.post("/v1/models/half_plus_two:predict", {"instances": [1.0]})
    text = server.get("/monitoring/prometheus/metrics").text
    assert 'request_count{model_name="half_plus_two"' in text
    assert 'servable_state{model_name="half_plus_two",version="123",state="AVAILABLE"} 1' in text
    assert stop_server(server) == 0
