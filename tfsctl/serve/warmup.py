"""TF Serving's SavedModel warmup: replay a version's recorded requests while it loads.

A version may carry `assets.extra/tf_serving_warmup_requests`, a TFRecord of
PredictionLog messages (tfsctl's exports write it from the spec's `warmup:`).
As in TF Serving (saved_model_warmup_util.cc), each record is run
--num_request_iterations_for_warmup times on the freshly loaded version
before it becomes AVAILABLE, so the first client request does not pay for
TensorFlow's lazy initialisation. Any failure fails the load with TF
Serving's code: a record that is not a PredictionLog is INVALID_ARGUMENT, a
file that is not a TFRecord is DATA_LOSS, more than 1,000 records is
INVALID_ARGUMENT; a missing file is fine. --enable_model_warmup=false skips it.
"""

from __future__ import annotations

import logging
import os
import time

from google.protobuf.message import DecodeError

from tfsctl.protos import prediction_service_pb2
from tfsctl.serve.core import Core
from tfsctl.serve.loader import LoadedVersion
from tfsctl.servingapi.status import Code, ServingError, invalid
from tfsctl.tfenv import import_tensorflow

log = logging.getLogger("tfsctl.serve")

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_RECORDS = 1000


def warm_up(core: Core, loaded: LoadedVersion, iterations: int) -> None:
    """Replay the version's warmup records; raises ServingError (the load then fails)."""
    tf = import_tensorflow()
    path = os.path.join(loaded.path, WARMUP_FILE)
    if not os.path.isfile(path):
        log.info("No warmup data file found at %s", path)
        return
    started, count = time.monotonic(), 0
    log.info("Starting to read warmup data for model at %s", path)
    try:
        for data in tf.compat.v1.io.tf_record_iterator(path):
            record = prediction_service_pb2.PredictionLog()
            try:
                record.ParseFromString(data)
            except DecodeError:
                raise invalid(f"Failed to parse warmup record: {data[:100]!r} from {path}") from None
            for _ in range(max(1, iterations)):
                core.replay(loaded, record)
            count += 1
            if count > MAX_RECORDS:
                raise invalid(f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at "
                              f"{path}")
    except tf.errors.DataLossError as exc:
        raise ServingError(Code.DATA_LOSS, f"{exc.message}. Please verify your warmup data is in "
                                           "TFRecord format.") from None
    except tf.errors.OpError as exc:
        raise ServingError(Code(exc.error_code), exc.message) from None
    except ServingError:
        raise
    except Exception as exc:  # noqa: BLE001 - a defect fails this load, not the manager's thread
        log.exception("warmup of %s failed", loaded.path)
        raise ServingError(Code.INTERNAL, f"Warmup failed: {type(exc).__name__}: {exc}") from None
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: %d. "
             "Elapsed time (microseconds): %d.", path, count, (time.monotonic() - started) * 1e6)
