"""A version's warmup file: `assets.extra/tf_serving_warmup_requests`.

TF Serving replays the records of this file (a TFRecord of PredictionLog
messages, at most 1,000) when it loads the version and before it makes the
version AVAILABLE, so the lazy initialisation TensorFlow does on the first
run is paid at load time, not by the first client after a rollout. The
spec's warmup requests are REST predict bodies; each becomes a PredictLog
holding the PredictRequest with the tensors the REST API would build from
it, typed by the exported signature, so a request that the server would
refuse is refused here, at export, with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfsctl.export.errors import ExportError
from tfsctl.spec.model_spec import MAX_WARMUP_RECORDS
from tfsctl.tfenv import import_tensorflow

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def warmup_records(bodies: Sequence[dict[str, Any]], signatures: Mapping[str, Any]) -> list[bytes]:
    """Serialized PredictionLog records, one per predict body."""
    from tfsctl.protos.prediction_service_pb2 import PredictionLog, PredictLog, PredictRequest
    from tfsctl.servingapi.jsonvalues import signature_name
    from tfsctl.servingapi.requests import parse_predict
    from tfsctl.servingapi.status import ServingError

    tf = import_tensorflow()
    if len(bodies) > MAX_WARMUP_RECORDS:
        raise ExportError(f"{len(bodies)} warmup requests; TF Serving reads at most "
                          f"{MAX_WARMUP_RECORDS}", "declare fewer warmup requests")
    records = []
    for index, body in enumerate(bodies):
        try:
            name = signature_name(body)
            key = name or "serving_default"
            if key not in signatures:
                raise ExportError(f"warmup request {index} names the signature {key!r}, which the "
                                  f"export does not have (it has {sorted(signatures)})",
                                  "fix its signature_name")
            dtypes = {alias: info.dtype for alias, info in signatures[key].inputs.items()}
            inputs, _ = parse_predict(body, dtypes, name)
        except ServingError as exc:
            raise ExportError(f"warmup request {index} is not a valid predict request for the "
                              f"exported model: {exc.message}",
                              "write it as the REST API's predict body") from None
        request = PredictRequest()
        request.model_spec.signature_name = name
        for alias, value in inputs.items():
            request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
        log = PredictionLog(predict_log=PredictLog(request=request))
        records.append(log.SerializeToString())
    return records


def write_warmup(version_dir: Path, records: Sequence[bytes]) -> None:
    """Write the records as the version's warmup file (into a version dir being built)."""
    tf = import_tensorflow()
    path = version_dir / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
