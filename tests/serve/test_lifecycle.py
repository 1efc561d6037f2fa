"""Versions over time: start-up, reloads, labels, polling, broken versions, shut-down."""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import grpc
import pytest
import requests

from tests.support.models import copy_version
from tests.support.net import free_port
from tests.support.serve import (
    Server,
    block,
    config_text,
    run_to_exit,
    server_command,
    stop_server,
    write_config,
)

pytestmark = pytest.mark.slow

FAST_FAIL = "--max_num_load_retries=0"


def _reload(server, *blocks: str):  # noqa: ANN001, ANN202
    from google.protobuf import text_format
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    from tensorflow_serving.config import model_server_config_pb2

    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(config_text(*blocks), config)
    with grpc.insecure_channel(server.grpc_address) as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=120)


def _refused(server, *blocks: str) -> tuple[grpc.StatusCode, str]:  # noqa: ANN001
    with pytest.raises(grpc.RpcError) as caught:
        _reload(server, *blocks)
    return caught.value.code(), caught.value.details()


def test_reload_adds_removes_changes_policy(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    hpt, two = models / "saved_model_half_plus_two_cpu", models / "saved_model_half_plus_two_2_versions"
    server = serve(f"--model_config_file={write_config(tmp_path / 'model.config', block('hpt', hpt))}")
    # replaces the whole list: "two" added (and loaded before the call returns), "hpt" removed
    assert _reload(server, block("two", two, "model_version_policy { all {} }")).status.error_code == 0
    # only the newest version of a new model is waited for; the rest load after the call
    assert server.states("two")["124"] == "AVAILABLE"
    server.wait_for(lambda: server.states("two") == {"124": "AVAILABLE", "123": "AVAILABLE"})
    server.wait_for(lambda: server.states("hpt") == {"123": "END"})
    assert server.post("/v1/models/hpt:predict", {"instances": [1.0]}).status_code == 404
    # policy change: specific [123] unloads 124
    assert _reload(server, block("two", two, "model_version_policy { specific { versions: 123 } }")
                   ).status.error_code == 0
    server.wait_for(lambda: server.states("two") == {"124": "END", "123": "AVAILABLE"})
    assert server.post("/v1/models/two:predict", {"instances": [[1.0]]}).json() == {
        "predictions": [[2.5]]}


def test_reload_validation(serve, models: Path) -> None:  # noqa: ANN001
    hpt = models / "saved_model_half_plus_two_cpu"
    server = serve("--model_name=hpt", f"--model_base_path={hpt}")
    assert _refused(server, block("a", hpt), block("a", hpt)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Illegal to list model a multiple times in config list")
    assert _refused(server, block("a", "relative/path")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Expected model a to have an absolute path or URI; got base_path()=relative/path")
    assert _refused(server, block("a", hpt, platform="tflite"))[1] == (
        "Model a requests unsupported platform tflite")
    assert _refused(server, block("a", hpt, platform=""))[1].startswith(
        "Illegal setting neither ModelServerConfig::model_type")
    # nothing above changed what is served
    assert server.states("hpt") == {"123": "AVAILABLE"}


def test_labels_only_on_available_versions(serve, models: Path) -> None:  # noqa: ANN001
    two = models / "saved_model_half_plus_two_2_versions"
    every = "model_version_policy { all {} }"
    server = serve("--model_name=two", f"--model_base_path={two}")  # latest 1: only 124 loaded
    assert _refused(server, block("two", two, every, {"stable": 123})) == (
        grpc.StatusCode.FAILED_PRECONDITION, "Request to assign label to version 123 of model two, "
                                             "which is not currently available for inference")
    assert server.states("two") == {"124": "AVAILABLE"}  # the refused config changed nothing
    assert _reload(server, block("two", two, every)).status.error_code == 0
    # a reload does not wait for new versions of a model already served: label them once loaded
    server.wait_for(lambda: server.states("two") == {"124": "AVAILABLE", "123": "AVAILABLE"})
    assert _reload(server, block("two", two, every, {"stable": 123, "canary": 124})
                   ).status.error_code == 0
    assert server.post("/v1/models/two/labels/stable:predict", {"instances": [[2.0]]}).json() == {
        "predictions": [[3.0]]}
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfsctl.tfenv import import_tensorflow

    request = predict_pb2.PredictRequest()
    request.inputs["x"].CopyFrom(import_tensorflow().make_tensor_proto([[1.0]], dtype="float32"))
    with grpc.insecure_channel(server.grpc_address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for label, version in (("stable", 123), ("canary", 124)):
            request.model_spec.name, request.model_spec.version_label = "two", label
            assert stub.Predict(request, timeout=30).model_spec.version.value == version


def test_labels_for_unavailable_versions_when_allowed(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    two = models / "saved_model_half_plus_two_2_versions"
    config = write_config(tmp_path / "model.config", block("two", two, "", {"stable": 123}))
    # TF Serving refuses a first config whose label names a version not loaded yet
    # (tensorflow/serving#1230) ...
    refused = run_to_exit(f"--model_config_file={config}")
    assert refused.returncode == 255
    assert ("Failed to start server. Error: FAILED_PRECONDITION: Request to assign label to version "
            "123 of model two, which is not currently available") in refused.stderr
    # ... unless labels may name unavailable versions; moving a label to one stays refused
    server = serve(f"--model_config_file={config}", "--allow_version_labels_for_unavailable_models")
    assert server.states("two") == {"124": "AVAILABLE"}
    assert _reload(server, block("two", two, "", {"stable": 123, "next": 999})).status.error_code == 0
    assert _refused(server, block("two", two, "", {"stable": 122}))[0] == (
        grpc.StatusCode.FAILED_PRECONDITION)
    assert _reload(server, block("two", two, "", {"stable": 124})).status.error_code == 0


def test_startup_fails_when_a_model_does_not_load(models: Path) -> None:
    result = run_to_exit("--model_name=bad", f"--model_base_path={models / 'bad_half_plus_two'}",
                         FAST_FAIL)
    assert result.returncode == 255
    assert ("Failed to start server. Error: UNKNOWN: 1 model(s) did not become available: "
            "{{{name: bad version: 123} due to error: NOT_FOUND: Could not find SavedModel .pb or "
            ".pbtxt at supplied export directory path:") in result.stderr


def test_a_failed_start_stops_the_loads_still_running_and_exits_255(
        models: Path, tmp_path: Path) -> None:
    """The newest version fails, so the server does not start, while the one below it is
    still loading: the server waits for that load and exits 255 as TF Serving does, where
    leaving the load running aborted the interpreter as it exited ("terminate called
    after throwing an instance of ''", exit 134; 139 in a container)."""
    base = tmp_path / "hpt"
    copy_version(models / "saved_model_half_plus_two_cpu" / "00000123", base / "1")
    broken = copy_version(models / "saved_model_half_plus_two_cpu" / "00000123", base / "2")
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    config = write_config(tmp_path / "model.config", block("hpt", base, "model_version_policy { all {} }"))
    result = run_to_exit(f"--model_config_file={config}", FAST_FAIL)
    assert result.returncode == 255, result.stderr[-2000:]
    assert ("Failed to start server. Error: UNKNOWN: 1 model(s) did not become available: "
            "{{{name: hpt version: 2} due to error: DATA_LOSS:") in result.stderr
    assert "terminate called" not in result.stderr, result.stderr[-2000:]


def test_start_errors(tmp_path: Path, tfs_testdata: Path, models: Path) -> None:
    bad_config = tmp_path / "bad.config"
    bad_config.write_text("model_config_list { config { nme: 'x' } }")
    hpt = f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}"
    cases = [
        (["--no_such_flag=1"], "unknown flag --no_such_flag"),
        ([f"--model_config_file={bad_config}"],
         "Error parsing text-format tensorflow.serving.ModelServerConfig"),
        ([hpt, f"--batching_parameters_file={tfs_testdata / 'batching_config.txt'}"],
         "batching_parameters_file is set without setting server_options.enable_batching"),
        (["--model_base_path=relative"], "Expected model default to have an absolute path"),
        ([], "Both server_options.model_base_path and server_options.model_config_file are empty"),
    ]
    for args, message in cases:
        result = run_to_exit(*args)
        assert result.returncode == 255 and message in result.stderr, (args, result.stderr)


def test_broken_version_does_not_take_others_down(serve, models: Path) -> None:  # noqa: ANN001
    base = models / "hpt"
    copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "1")
    server = serve("--model_name=hpt", f"--model_base_path={base}", FAST_FAIL,
                   "--file_system_poll_wait_seconds=1")
    corrupt = copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "2")
    (corrupt / "saved_model.pb").write_bytes(b"corrupt")
    server.wait_for(lambda: server.states("hpt").get("2") == "END")
    status = {s["version"]: s for s in server.get("/v1/models/hpt").json()["model_version_status"]}
    assert status["2"]["status"] == {"error_code": "DATA_LOSS", "error_message":
                                     f"Can't parse {corrupt}/saved_model.pb as binary proto"}
    # latest 1 aspires only to 2, but 1 keeps serving since 2 never became available
    assert status["1"]["state"] == "AVAILABLE"
    assert server.post("/v1/models/hpt:predict", {"instances": [1.0]}).json() == {
        "predictions": [2.5]}
    # TF Serving's non-SavedModel export as a version: END with NOT_FOUND, others unaffected
    shutil.copytree(models / "bad_half_plus_two/00000123", base / "3")
    server.wait_for(lambda: server.states("hpt").get("3") == "END")
    assert server.states("hpt")["1"] == "AVAILABLE"
    # a fixed version dir (new mtime) is tried again and takes over
    shutil.rmtree(base / "3")
    copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "4")
    server.wait_for(lambda: server.states("hpt").get("4") == "AVAILABLE")
    server.wait_for(lambda: server.states("hpt")["1"] == "END")


def test_reload_with_a_broken_new_model_reports_it(serve, models: Path) -> None:  # noqa: ANN001
    hpt = models / "saved_model_half_plus_two_cpu"
    server = serve("--model_name=hpt", f"--model_base_path={hpt}", FAST_FAIL)
    code, message = _refused(server, block("hpt", hpt), block("bad", models / "bad_half_plus_two"))
    assert code == grpc.StatusCode.UNKNOWN
    assert message.startswith("1 model(s) did not become available: {{{name: bad version: 123} due "
                              "to error: NOT_FOUND: Could not find SavedModel")
    assert server.states("bad") == {"123": "END"}
    assert server.post("/v1/models/hpt:predict", {"instances": [1.0]}).status_code == 200


def test_load_retries(serve, models: Path) -> None:  # noqa: ANN001
    """A failed load is retried --max_num_load_retries times, --load_retry_interval_micros apart."""
    base = models / "hpt"
    copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "1")
    server = serve("--model_name=hpt", f"--model_base_path={base}", "--max_num_load_retries=2",
                   "--load_retry_interval_micros=1500000")
    broken = base / "2"
    broken.mkdir()
    server.wait_for(lambda: server.states("hpt").get("2") == "LOADING")
    # fixed while being retried: the next attempt loads it (without retries the version
    # would have ended with its load error instead)
    for item in (models / "saved_model_half_plus_two_cpu/00000123").iterdir():
        (shutil.copytree if item.is_dir() else shutil.copy)(item, broken / item.name)
    server.wait_for(lambda: server.states("hpt").get("2") == "AVAILABLE")


def test_polling_picks_up_a_new_version_and_keeps_availability(serve, models: Path) -> None:  # noqa: ANN001
    base = models / "hpt"
    copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "1")
    (base / "not-a-version").mkdir()
    server = serve("--model_name=hpt", f"--model_base_path={base}",
                   "--file_system_poll_wait_seconds=1")
    errors: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            status = server.post("/v1/models/hpt:predict", {"instances": [1.0]}).status_code
            if status != 200:
                errors.append(status)

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        copy_version(models / "saved_model_half_plus_two_cpu/00000123", base / "00000002")
        server.wait_for(lambda: server.states("hpt") == {"2": "AVAILABLE", "1": "END"})
    finally:
        stop.set()
        worker.join()
    assert errors == []  # the new version loaded before the old one was unloaded


def test_model_config_file_is_polled(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    config = write_config(tmp_path / "model.config",
                          block("half_plus_two", models / "saved_model_half_plus_two_cpu"))
    server = serve(f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1")
    write_config(config, block("half_plus_three", models / "saved_model_half_plus_three"))
    server.wait_for(lambda: server.post("/v1/models/half_plus_three:predict",
                                        {"instances": [1.0]}).status_code == 200)
    assert server.post("/v1/models/half_plus_three:predict", {"instances": [1.0]}).json() == {
        "predictions": [3.5]}
    server.wait_for(lambda: server.states("half_plus_two") == {"123": "END"})


def test_sigterm_finishes_in_flight_requests_and_exits_0(serve, models: Path) -> None:  # noqa: ANN001
    server = serve("--model_name=hpt", f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    session = requests.Session()  # an idle keep-alive connection must not hold up the exit
    assert session.post(server.url + "/v1/models/hpt:predict", json={"instances": [1.0]}).ok
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert "Server stopped" in server.log.read_text()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/v1/models/hpt", timeout=5)


def _thread_ids(pid: int) -> list[int]:
    return [int(task.name) for task in Path(f"/proc/{pid}/task").iterdir()]


def test_sigterm_handled_by_another_thread_still_stops_the_server(serve, models: Path) -> None:  # noqa: ANN001
    """The kernel may hand a process's SIGTERM to any of its threads (gRPC's, TensorFlow's,
    uvicorn's); the main thread, waiting for the signal, must wake up all the same. One of
    the server's other threads gets it directly (`tgkill`), as `kill` could have delivered
    it; a main thread that waits only for a signal landing on itself never stops."""
    server = serve("--model_name=hpt", f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    pid = server.process.pid
    others = [tid for tid in _thread_ids(pid) if tid != pid]
    assert others, "a serving server runs more than its main thread"
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.tgkill(pid, others[-1], signal.SIGTERM) == 0, ctypes.get_errno()
    try:
        assert server.process.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        raise AssertionError("a SIGTERM delivered to a worker thread did not stop the server; "
                             "log:\n" + server.log.read_text()[-3000:]) from None
    assert "Server stopped" in server.log.read_text()


def _started(tmp_path: Path, *args: str) -> Server:
    """A server writing to a log file (a pipe nobody reads to its end could block it)."""
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(server_command("--host=127.0.0.1", *args), stdout=out,
                                   stderr=subprocess.STDOUT)
    return Server(process, 0, 0, log)


def _stopped_in_order(server: Server) -> str:
    """SIGTERM; the server exits 0 through its orderly shut-down, and its log."""
    assert stop_server(server) == 0
    text = server.log.read_text()
    assert "Server stopped" in text and "Traceback" not in text, text[-3000:]
    return text


def test_rest_port_equal_to_grpc_port_is_skipped(tmp_path: Path, models: Path) -> None:
    """Stopped right after the clash is logged: the signal lands while gRPC has started and the
    start-up is not done, and must still stop it in order."""
    port = free_port()
    server = _started(tmp_path, f"--port={port}", f"--rest_api_port={port}", "--model_name=hpt",
                      f"--model_base_path={models / 'saved_model_half_plus_two_cpu'}")
    try:
        server.wait_for(lambda: "cannot be same as grpc_port" in server.log.read_text())
    finally:
        _stopped_in_order(server)


def test_sigterm_while_the_first_versions_load_stops_in_order(tmp_path: Path) -> None:
    """TF Serving waits for a model's first version before it opens its ports (forever, for a
    base path with no version yet): a signal then ends the wait and the server, in order."""
    empty = tmp_path / "hpt"
    empty.mkdir()
    server = _started(tmp_path, f"--port={free_port()}", f"--rest_api_port={free_port()}",
                      "--model_name=hpt", f"--model_base_path={empty}")
    try:
        server.wait_for(lambda: "No versions of servable hpt" in server.log.read_text())
    finally:
        text = _stopped_in_order(server)
    assert "Running gRPC ModelServer" not in text


def test_unknown_flag_is_an_error() -> None:
    result = run_to_exit("--model_name=x", "--model_base_path=/tmp", "--no_such_flag=1")
    assert result.returncode == 255 and "unknown flag --no_such_flag" in result.stderr
