"""Start-up and shut-down of `tfsctl serve`, in TF Serving's order.

Models in the initial config are loaded before the ports open (as TF
Serving does), labels are applied once their versions are AVAILABLE, then
gRPC and REST start. SIGTERM or SIGINT stops accepting requests, lets
in-flight ones finish, unloads the models and exits 0.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

from tfsctl.serve.flags import FlagError, ServerFlags, parse_flags
from tfsctl.serverconfig.model_config import ModelConfigError, ModelEntry, parse_text
from tfsctl.tfenv import import_tensorflow

log = logging.getLogger("tfsctl.serve")


class StartError(Exception):
    pass


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise StartError(f"cannot read the {what} {path}: {exc.strerror}") from None


def model_entries(flags: ServerFlags) -> tuple[ModelEntry, ...]:
    if not flags.model_config_file:
        return (ModelEntry(flags.model_name, flags.model_base_path),)
    try:
        return parse_text(_read(flags.model_config_file, "model config file"))
    except ModelConfigError as exc:
        raise StartError(f"{flags.model_config_file}: {exc}") from None


def check_batching(flags: ServerFlags) -> None:
    """Validate the batching parameters (BatchingParameters text format).

    The file is checked like TF Serving checks it, but requests are not
    batched across callers: each request runs as its own batch.
    """
    if not flags.batching_parameters_file:
        return
    text = _read(flags.batching_parameters_file, "batching parameters file")
    known = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
             "num_batch_threads", "allowed_batch_sizes", "pad_variable_length_inputs",
             "thread_pool_name", "enable_large_batch_splitting", "max_execution_batch_size"}
    for name in re.findall(r"^\s*([a-z_]+)\s*[:{]", text, flags=re.MULTILINE):
        if name not in known:
            raise StartError(f"{flags.batching_parameters_file}: unknown field {name!r}")


def metrics_path(flags: ServerFlags) -> str | None:
    if not flags.monitoring_config_file:
        return None
    text = _read(flags.monitoring_config_file, "monitoring config file")
    if not re.search(r"enable\s*:\s*true", text):
        return None
    found = re.search(r'path\s*:\s*"([^"]*)"', text)
    return found.group(1) if found else "/monitoring/prometheus/metrics"


def _watch_config(flags: ServerFlags, manager: object, stop: threading.Event) -> None:
    """--model_config_file_poll_wait_seconds: re-read the file and apply it when it changes."""
    last = model_entries(flags)

    def loop() -> None:
        nonlocal last
        while not stop.wait(flags.model_config_file_poll_wait_seconds):
            try:
                entries = model_entries(flags)
                if entries != last:
                    manager.set_config(entries)  # type: ignore[attr-defined]
                    last = entries
            except Exception as exc:  # noqa: BLE001 - keep serving the last good config
                log.error("model config file not applied: %s", exc)

    threading.Thread(target=loop, name="config-poll", daemon=True).start()


def run(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname).1s tfsctl-serve] %(message)s")
    try:
        flags = parse_flags(list(sys.argv[1:] if argv is None else argv))
        entries = model_entries(flags)
        check_batching(flags)
        path = metrics_path(flags)
    except (FlagError, StartError) as exc:
        print(f"tfsctl serve: {exc}", file=sys.stderr)
        return 1

    import_tensorflow()
    import grpc
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

    from tfsctl.serve.core import Core
    from tfsctl.serve.grpc_service import ModelServicer, PredictionServicer
    from tfsctl.serve.loader import load_version
    from tfsctl.serve.manager import FailedPrecondition, ModelManager
    from tfsctl.serve.metrics import Metrics
    from tfsctl.serve.rest import RestServer

    manager = ModelManager(load_version, allow_unavailable_labels=flags
                           .allow_version_labels_for_unavailable_models)
    try:
        manager.set_config(tuple(ModelEntry(e.name, e.base_path, e.platform, e.policy)
                                 for e in entries))
        manager.set_config(entries)
    except (FailedPrecondition, ValueError) as exc:
        print(f"tfsctl serve: the model config cannot be applied: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    manager.start_polling(flags.file_system_poll_wait_seconds)
    if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
        _watch_config(flags, manager, stop)

    core = Core(manager)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(core), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), grpc_server)
    host = f"[{flags.host}]" if ":" in flags.host else flags.host
    if grpc_server.add_insecure_port(f"{host}:{flags.port}") == 0:
        print(f"tfsctl serve: cannot listen on {host}:{flags.port} (gRPC)", file=sys.stderr)
        return 1
    grpc_server.start()
    log.info("Running gRPC ModelServer at %s:%d ...", flags.host, flags.port)
    rest = None
    if flags.rest_api_port:
        try:
            rest = RestServer((flags.host, flags.rest_api_port), core, Metrics(), path)
        except OSError as exc:
            print(f"tfsctl serve: cannot listen on {flags.host}:{flags.rest_api_port} (REST): "
                  f"{exc.strerror}", file=sys.stderr)
            grpc_server.stop(0)
            return 1
        threading.Thread(target=rest.serve_forever, name="rest", daemon=True).start()
        log.info("Exporting HTTP/REST API at:%s:%d ...", flags.host, flags.rest_api_port)

    def on_signal(signum: int, frame: object) -> None:
        log.info("received signal %d, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    if rest is not None:
        rest.shutdown()
        rest.server_close()
    grpc_server.stop(grace=5).wait()
    manager.stop()
    log.info("stopped")
    return 0
