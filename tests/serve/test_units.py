"""Fast checks of `tfsctl serve`'s parts that need no TensorFlow: flags, side files, JSON codec,
metrics, local runtime records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfsctl.runtimes import process
from tfsctl.serve.answers import decimal, format_predict
from tfsctl.serve.configfiles import metrics_path, read_batching, read_model_server_config
from tfsctl.serve.flags import FlagError, parse_flags
from tfsctl.serve.metrics import Metrics
from tfsctl.servingapi.jsonvalues import parse_json
from tfsctl.servingapi.limits import RequestLimits
from tfsctl.servingapi.requests import parse_predict
from tfsctl.servingapi.status import Code, ServingError

FLOAT, INT32, STRING, BOOL = 1, 3, 7, 10


# ------------------------------------------------------------------ flags


def test_flags_both_forms_and_bools() -> None:
    flags = parse_flags(["--port", "9000", "--rest_api_port=9001", "--model_name=m",
                         "--model_base_path", "/models/m", "--enable_batching",
                         "--allow_version_labels_for_unavailable_models=false",
                         "--rest_api_enable_cors_support", "true", "--saved_model_tags=serve,gpu"])
    assert (flags.port, flags.rest_api_port, flags.model_name, flags.model_base_path) == (
        9000, 9001, "m", "/models/m")
    assert flags.enable_batching and flags.rest_api_enable_cors_support
    assert not flags.allow_version_labels_for_unavailable_models
    assert flags.tags == ("serve", "gpu")


def test_flag_defaults_are_tf_servings() -> None:
    flags = parse_flags([])
    assert (flags.port, flags.rest_api_port, flags.file_system_poll_wait_seconds,
            flags.max_num_load_retries, flags.load_retry_interval_micros, flags.host,
            flags.model_name) == (8500, 0, 1, 5, 60_000_000, "0.0.0.0", "default")


@pytest.mark.parametrize("argv,message", [
    (["--no_such_flag=1"], "unknown flag --no_such_flag"),
    (["stray"], "unknown argument: stray"),
    (["--port=eighty"], "--port takes a number"),
    (["--enable_batching=maybe"], "--enable_batching takes true or false"),
    (["--port"], "--port needs a value"),
    (["--ssl_config_file=/x"], "--ssl_config_file is not supported"),
])
def test_flag_errors(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError, match=message):
        parse_flags(argv)


def test_import_does_not_import_tensorflow() -> None:
    code = ("import sys, tfsctl.serve, tfsctl.serve.flags, tfsctl.runtimes.local, tfsctl.runtimes.process; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# ------------------------------------------------------------------ side files


def test_side_files_parse_with_the_official_messages(tfs_testdata: Path, tmp_path: Path) -> None:
    assert metrics_path(str(tfs_testdata / "monitoring_config.txt")) == "/monitoring/prometheus/metrics"
    batching = read_batching(str(tfs_testdata / "batching_config.txt"))
    assert (batching.max_batch_size, batching.batch_timeout_micros) == (128, 0)
    off = tmp_path / "off.txt"
    off.write_text("prometheus_config { enable: false }")
    assert metrics_path(str(off)) is None
    default_path = tmp_path / "default.txt"
    default_path.write_text("prometheus_config { enable: true }")
    assert metrics_path(str(default_path)) == "/monitoring/prometheus/metrics"


@pytest.mark.parametrize("text,message", [
    ("max_batch_size { value: 8 }\nmax_batch_sise { value: 8 }",
     "Error parsing text-format tensorflow.serving.BatchingParameters"),
    ("max_batch_size: 8", "Error parsing text-format tensorflow.serving.BatchingParameters"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 4 allowed_batch_sizes: 2",
     "monotonically increasing"),
    ("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 4",
     "final entry in allowed_batch_sizes must equal max_batch_size"),
])
def test_bad_batching_parameters(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "batching.txt"
    path.write_text(text)
    with pytest.raises(ServingError, match=message) as caught:
        read_batching(str(path))
    assert caught.value.code is Code.INVALID_ARGUMENT


def test_model_config_parse_error_names_the_message(tmp_path: Path) -> None:
    path = tmp_path / "model.config"
    path.write_text("model_config_list { config { nam: 'x' } }")
    with pytest.raises(ServingError, match="Error parsing text-format tensorflow.serving."
                                           "ModelServerConfig"):
        read_model_server_config(str(path))


# ------------------------------------------------------------------ JSON codec


def _error(doc: dict, dtypes: dict[str, int]) -> str:
    with pytest.raises(ServingError) as caught:
        parse_predict(doc, dtypes, "")
    return caught.value.message


def test_row_and_columnar_requests() -> None:
    inputs, row = parse_predict({"instances": [1.0, 2, 5.0]}, {"x": FLOAT}, "")
    assert row and inputs["x"].dtype == np.float32 and inputs["x"].tolist() == [1.0, 2.0, 5.0]
    inputs, row = parse_predict({"instances": [{"a": [1, 2], "b": "s"}, {"a": [3, 4], "b": "t"}]},
                                {"a": INT32, "b": STRING}, "")
    assert inputs["a"].shape == (2, 2) and inputs["b"].tolist() == [b"s", b"t"]
    inputs, row = parse_predict({"inputs": {"a": [[1]], "b": {"b64": "AAE="}}},
                                {"a": INT32, "b": STRING}, "")
    assert not row and inputs["b"].item() == b"\x00\x01"
    inputs, _ = parse_predict({"inputs": [[1.0], [2.0]]}, {"x": FLOAT}, "")
    assert inputs["x"].shape == (2, 1)


@pytest.mark.parametrize("doc,dtypes,message", [
    ({"instances": ["a"]}, {"x": FLOAT}, "Type: String is not of expected type: float"),
    ({"instances": [True]}, {"x": FLOAT}, "Type: True is not of expected type: float"),
    ({"instances": [1.5]}, {"x": INT32}, "is not of expected type: int32"),
    ({"instances": [2 ** 40]}, {"x": INT32}, "is not of expected type: int32"),
    ({"instances": [1]}, {"x": BOOL}, "is not of expected type: bool"),
    ({"instances": [[1.0, 2.0], [1.0]]}, {"x": FLOAT}, "Expecting tensor size: 2 but got: 1"),
    ({"inputs": [[1.0, 2.0], [1.0]]}, {"x": FLOAT}, "Encountered list at unexpected size: 1"),
    ({"inputs": [[1.0], 2.0]}, {"x": FLOAT}, "found at incorrect level"),
    ({"instances": [1.0], "inputs": [1.0]}, {"x": FLOAT}, "expecting only one of 'inputs' or "
                                                          "'instances' keys to exist"),
    ({"instances": []}, {"x": FLOAT}, "No values in 'instances' array"),
    ({"instances": {"x": 1}}, {"x": FLOAT}, "Expecting 'instances' to be an list/array"),
    ({"nothing": 1}, {"x": FLOAT}, "Missing 'inputs' or 'instances' key"),
    ({"instances": [1.0]}, {"a": FLOAT, "b": FLOAT}, "instances is a plain list"),
    ({"instances": [{"a": 1.0}]}, {"a": FLOAT, "b": FLOAT}, "keys must be equal to: a,b"),
    ({"inputs": {"a": 1.0}}, {"a": FLOAT, "b": FLOAT}, "Missing named input: b in 'inputs' object."),
    ({"instances": [{"b64": "!!"}]}, {"x": STRING}, "Unable to base64 decode"),
])
def test_request_errors_match_tf_serving(doc: dict, dtypes: dict[str, int], message: str) -> None:
    assert message in _error(doc, dtypes)


def test_parse_json_errors() -> None:
    for body, message in [(b"", "JSON Parse error: The document is empty"),
                          (b"{", "JSON Parse error"), (b"[1]", "Is not object")]:
        with pytest.raises(ServingError, match=message):
            parse_json(body)


def test_floats_are_written_as_tf_serving_writes_them() -> None:
    assert decimal(float(np.float32(0.1)), True) == "0.1"
    assert decimal(3.0, True) == "3.0"
    assert decimal(float(np.float32(123456789.0)), True) == "123456792.0"
    assert decimal(float("nan"), True) == "NaN"
    assert decimal(float("-inf"), False) == "-Infinity"
    text = format_predict({"y": np.array([0.1, 2.5], dtype=np.float32)}, row=True)
    assert text == '{"predictions": [0.1, 2.5]}'


def test_response_formats() -> None:
    outputs = {"a": np.array([[1, 2], [3, 4]], dtype=np.int64),
               "s_bytes": np.array([b"\xff", b"x"], dtype=object), "s": np.array([b"u", b"v"],
                                                                                 dtype=object)}
    assert json.loads(format_predict(outputs, row=True)) == {"predictions": [
        {"a": [1, 2], "s_bytes": {"b64": "/w=="}, "s": "u"},
        {"a": [3, 4], "s_bytes": {"b64": "eA=="}, "s": "v"}]}
    assert json.loads(format_predict(outputs, row=False))["outputs"]["a"] == [[1, 2], [3, 4]]
    with pytest.raises(ServingError, match="inconsistent batch size"):
        format_predict({"a": np.zeros(2), "b": np.zeros(3)}, row=True)
    with pytest.raises(ServingError, match="has no shape information"):
        format_predict({"a": np.float32(1.0)}, row=True)


# ------------------------------------------------------------------ metrics


class _NoModels:
    def models(self) -> list:
        return []


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.observe_request("m", "predict", "REST", Code.OK, 0.0015)
    metrics.observe_request("m", "predict", "REST", Code.NOT_FOUND, 0.001)
    text = metrics.render(_NoModels())
    assert ':tensorflow:serving:request_count{model_name="m",status="OK"} 1' in text
    assert ':tensorflow:serving:request_count{model_name="m",status="NOT_FOUND"} 1' in text
    # latency only for successful requests, in microseconds: 1500us falls in the 1983.59 bucket
    assert ':tensorflow:serving:request_latency_count{model_name="m",API="predict",' \
           'entrypoint="REST"} 1' in text
    assert 'le="1102"} 0' in text and 'le="1983.59"} 1' in text and 'le="+Inf"} 1' in text


# ------------------------------------------------------------------ local runtime records


def test_observe_never_crashes_on_stale_or_broken_records(tmp_path: Path) -> None:
    assert process.observe(tmp_path) is None
    (tmp_path / process.RECORD).write_text("{not json")
    assert process.observe(tmp_path) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / process.RECORD).write_text(json.dumps({"pid": dead.pid, "args": ["--port=1"],
                                                     "started_at": "then"}))
    state = process.observe(tmp_path)
    assert state is not None and not state.alive and state.args == ("--port=1",)
    # a live pid that is not a tfsctl server (this test process) is not "alive" either
    (tmp_path / process.RECORD).write_text(json.dumps({"pid": os.getpid()}))
    assert not process.observe(tmp_path).alive
    assert process.stop(tmp_path) is False and not (tmp_path / process.RECORD).exists()


# ------------------------------------------------------------------ batching


def _batcher(**params: object):  # noqa: ANN202
    from tfsctl.serve.batching import Batcher
    from tfsctl.serve.configfiles import Batching

    return Batcher(Batching(**{"num_batch_threads": 2, **params}))


def test_concurrent_requests_are_merged_padded_and_split_back() -> None:
    from concurrent.futures import ThreadPoolExecutor

    batcher = _batcher(max_batch_size=8, batch_timeout_micros=200_000, allowed_batch_sizes=(4, 8))
    seen: list[int] = []

    def double(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        seen.append(inputs["x"].shape[0])
        return {"y": inputs["x"] * 2}

    def one(i: int) -> list[float]:
        return batcher.run("k", double, {"x": np.array([[float(i)]])})["y"].ravel().tolist()

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one, range(6)))
    assert results == [[2.0 * i] for i in range(6)]
    assert sum(seen) in (8, 12) and all(size in (4, 8) for size in seen) and len(seen) < 6


def test_batching_refusals() -> None:
    batcher = _batcher(max_batch_size=2)

    def identity(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return inputs

    with pytest.raises(ServingError, match="Task size 3 is larger than maximum input batch size 2"):
        batcher.run("k", identity, {"x": np.zeros(3)})
    with pytest.raises(ServingError, match="must have at least one dimension"):
        batcher.run("k", identity, {"x": np.float32(1.0)})
    assert batcher.run("k", identity, {"x": np.ones(2)})["x"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ request limits


def test_limits_are_checked_on_declared_shapes() -> None:
    limits = RequestLimits(max_elements=100, max_bytes=400)
    limits.check_tensors([("x", [10, 10], 4)])
    for tensors, message in [([("x", [101], 1)], "101 elements, more than the limit of 100"),
                             ([("x", [60], 4), ("y", [50], 1)], "110 elements"),
                             ([("x", [51], 8)], "408 bytes, more than the limit of 400"),
                             ([("x", [2 ** 62, 2 ** 62], 4)], "--max_request_elements"),
                             ([("x", [3, -1], 4)], "negative dimension"),
                             ([("x", [1] * 65, 4)], "65 dimensions")]:
        with pytest.raises(ServingError, match=message) as caught:
            limits.check_tensors(tensors)
        assert caught.value.code is Code.INVALID_ARGUMENT
    with pytest.raises(ServingError, match="--max_request_bytes"):
        limits.check_body(401)


def test_json_requests_are_checked_before_tensors_exist() -> None:
    limits = RequestLimits(max_elements=10, max_bytes=1000)
    assert parse_predict({"instances": [[1.0, 2.0]] * 5}, {"x": FLOAT}, "", limits)[0][
        "x"].shape == (5, 2)
    for doc in ({"instances": [[1.0, 2.0]] * 6}, {"inputs": [[1.0] * 11]},
                {"instances": [{"x": [1.0] * 6, "y": [1.0] * 6}]}):
        with pytest.raises(ServingError, match="--max_request_elements"):
            parse_predict(doc, {"x": FLOAT, "y": FLOAT} if "y" in str(doc) else {"x": FLOAT}, "",
                          limits)


def test_row_format_errors_keep_tf_servings_words() -> None:
    """The one-pass reading of `instances` falls back to the row-by-row wording on errors."""
    with pytest.raises(ServingError, match="Error: INVALID_ARGUMENT: Expecting tensor size: 2 but got: 3"):
        parse_predict({"instances": [[1.0, 2.0], [1.0, 2.0, 3.0]]}, {"x": FLOAT}, "")
    with pytest.raises(ServingError, match="Failed to process element: 1 key: x"):
        parse_predict({"instances": [{"x": 1.0}, {"x": "a"}]}, {"x": FLOAT}, "")


@pytest.mark.parametrize("body", [b'{"a": "\\udc00"}', b'{"\\ud800": 1}', b'["\\udfff"]',
                                  b'{"a": "\xed\xa0\x80"}', b"[" * 100_000])
def test_parse_json_refuses_what_cannot_be_answered(body: bytes) -> None:
    with pytest.raises(ServingError, match="JSON Parse error"):
        parse_json(body)
    assert parse_json(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001F600"}


def test_limit_flags_must_be_positive() -> None:
    assert parse_flags(["--max_request_elements=5"]).max_request_elements == 5
    with pytest.raises(FlagError, match="--idle_timeout_seconds must be greater than 0"):
        parse_flags(["--idle_timeout_seconds=0"])
