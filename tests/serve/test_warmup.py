"""Warmup: the spec's requests written into exported versions, replayed by `tfsctl serve` at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.serve import run_to_exit
from tfsctl.spec.model_spec import ModelSpec

HPT = "saved_model_half_plus_two_cpu"
BODIES = [{"instances": [1.0, 2.0]},
          {"signature_name": "serving_default", "inputs": {"x": [[1.0], [5.0]]}}]


def test_warmup_reuses_smoke_requests_or_lists_its_own() -> None:
    smoke = [{"request": {"instances": [1.0]}, "expect": {"predictions": [2.5]}}]
    assert ModelSpec.model_validate({"name": "m", "smoke": smoke, "warmup": "smoke"}
                                    ).warmup_requests == [{"instances": [1.0]}]
    own = ModelSpec.model_validate({"name": "m", "warmup": [{"request": BODIES[1]}]})
    assert own.warmup_requests == [BODIES[1]]
    assert ModelSpec.model_validate({"name": "m"}).warmup_requests == []
    with pytest.raises(ValueError, match="at most 1000 items"):
        ModelSpec.model_validate({"name": "m", "warmup": [{"request": BODIES[0]}] * 1001})


def _export(tfs_testdata: Path, target: Path, warmup: list[dict]) -> None:
    from tfsctl.export.exporters import export_version
    from tfsctl.spec.sources import SavedModelSource

    source = SavedModelSource(saved_model=tfs_testdata / HPT / "00000123")
    export_version(source, target, warmup=warmup)


def _records(path: Path) -> list:
    from tensorflow_serving.apis import prediction_log_pb2

    from tfsctl.tfenv import import_tensorflow

    records = []
    for data in import_tensorflow().compat.v1.io.tf_record_iterator(str(path)):
        records.append(prediction_log_pb2.PredictionLog.FromString(data))
    return records


def _write_records(path: Path, records: list[bytes]) -> None:
    from tfsctl.export.warmup import write_warmup

    write_warmup(path, records)


@pytest.mark.slow
def test_export_writes_the_warmup_file(tfs_testdata: Path, tmp_path: Path) -> None:
    from tfsctl.tfenv import import_tensorflow

    _export(tfs_testdata, tmp_path / "m" / "1", BODIES)
    records = _records(tmp_path / "m" / "1" / "assets.extra" / "tf_serving_warmup_requests")
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log", "predict_log"]
    tensors = [import_tensorflow().make_ndarray(r.predict_log.request.inputs["x"]) for r in records]
    assert [t.tolist() for t in tensors] == [[1.0, 2.0], [[1.0], [5.0]]]
    assert records[1].predict_log.request.model_spec.signature_name == "serving_default"
    _export(tfs_testdata, tmp_path / "m" / "2", [])
    assert not (tmp_path / "m" / "2" / "assets.extra").exists()


@pytest.mark.slow
@pytest.mark.parametrize("body,message", [
    ({"instances": ["a"]}, "warmup request 1 is not a valid predict request"),
    ({"signature_name": "nope", "instances": [1.0]}, "names the signature 'nope'"),
    ({"rows": [1.0]}, "Missing 'inputs' or 'instances' key"),
])
def test_export_refuses_a_warmup_request_the_model_cannot_take(tfs_testdata: Path, tmp_path: Path,
                                                               body: dict, message: str) -> None:
    from tfsctl.export.exporters import ExportError

    with pytest.raises(ExportError, match=message):
        _export(tfs_testdata, tmp_path / "m" / "1", [BODIES[0], body])
    assert list((tmp_path / "m").iterdir()) == []  # nothing half-written


def _version_with(tfs_testdata: Path, tmp_path: Path, records: list[bytes] | None,
                  raw: bytes | None = None) -> Path:
    import shutil

    from tests.support.models import make_writable

    base = tmp_path / "models" / "hpt"
    shutil.copytree(tfs_testdata / HPT / "00000123", base / "1")
    make_writable(base)
    if records is not None:
        _write_records(base / "1", records)
    if raw is not None:
        (base / "1" / "assets.extra").mkdir(exist_ok=True)
        (base / "1" / "assets.extra" / "tf_serving_warmup_requests").write_bytes(raw)
    return base


def _predict_record(signature: str = "", value: float = 1.0) -> bytes:
    import numpy as np
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    from tfsctl.tfenv import import_tensorflow

    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    request.inputs["x"].CopyFrom(import_tensorflow().make_tensor_proto(
        np.array([[value]], dtype=np.float32)))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString()


@pytest.mark.slow
def test_serve_replays_warmup_before_the_version_is_available(serve, tfs_testdata: Path,  # noqa: ANN001
                                                               tmp_path: Path) -> None:
    base = _version_with(tfs_testdata, tmp_path, [_predict_record(), _predict_record(value=3.0)])
    server = serve("--model_name=hpt", f"--model_base_path={base}",
                   "--num_request_iterations_for_warmup=2")
    log = server.log.read_text()
    finished = log.index("Number of warmup records read: 2.")
    assert finished < log.index("Successfully loaded servable version {name: hpt version: 1}")
    assert server.post("/v1/models/hpt:predict", {"instances": [1.0]}).json() == {
        "predictions": [2.5]}


@pytest.mark.slow
@pytest.mark.parametrize("records,raw,message", [
    (None, b"not a tfrecord at all", "DATA_LOSS"),
    (None, b"\x05\x00\x00\x00\x00\x00\x00\x00garbage-crc", "DATA_LOSS"),
    ([b"\xff\xff\xff"], None, "INVALID_ARGUMENT: Failed to parse warmup record"),
    ("bad signature", None, 'Serving signature key "nope" not found'),
    ("too many", None, "Number of warmup records exceeds the maximum (1000)"),
])
def test_a_failing_warmup_fails_the_load(tfs_testdata: Path, tmp_path: Path, records: object,
                                         raw: bytes | None, message: str) -> None:
    if records == "bad signature":
        records = [_predict_record("nope")]
    elif records == "too many":
        records = [_predict_record()] * 1001
    base = _version_with(tfs_testdata, tmp_path, records, raw)  # type: ignore[arg-type]
    result = run_to_exit("--model_name=hpt", f"--model_base_path={base}", "--max_num_load_retries=0")
    assert result.returncode == 255, result.stderr[-2000:]
    assert "did not become available" in result.stderr and message in result.stderr, \
        result.stderr[-2000:]


@pytest.mark.slow
def test_warmup_can_be_disabled(serve, tfs_testdata: Path, tmp_path: Path) -> None:  # noqa: ANN001
    base = _version_with(tfs_testdata, tmp_path, None, b"not a tfrecord at all")
    server = serve("--model_name=hpt", f"--model_base_path={base}", "--enable_model_warmup=false")
    assert server.states("hpt") == {"1": "AVAILABLE"}
