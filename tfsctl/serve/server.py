"""Start-up and shut-down of `tfsctl serve`, in TF Serving's order (server.cc, main.cc).

The flags are checked, the model config is read, and every model's newest
version is loaded (or has failed: then the server does not start, exactly
as TF Serving's "N model(s) did not become available") *before* the ports
open, so a server that answers is a server that serves. Then the config
file poller, gRPC and REST start. SIGTERM or SIGINT stops accepting
requests, lets in-flight ones finish, unloads the models and exits 0.
Start-up failures print TF Serving's "Failed to start server. Error: ..."
and exit 255 (main returns -1).
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
from concurrent import futures
from typing import TYPE_CHECKING

from tfsctl.serve.configfiles import (
    entries_from_proto,
    metrics_path,
    read_batching,
    read_model_server_config,
)
from tfsctl.serve.flags import ACCEPTED_NO_EFFECT, USAGE, FlagError, ServerFlags, parse_flags
from tfsctl.serve.signals import Interrupted, StopSignals
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.servingapi.status import ServingError, invalid
from tfsctl.tfenv import import_tensorflow

if TYPE_CHECKING:  # imported once TensorFlow is (see _serve)
    from tfsctl.serve.core import Core
    from tfsctl.serve.manager import ModelManager
    from tfsctl.serve.metrics import Metrics

log = logging.getLogger("tfsctl.serve")

EXIT_FAILURE = 255
DRAIN_SECONDS = 30.0
VERSION = "tfsctl-serve (TensorFlow Serving-compatible)"


def model_entries(flags: ServerFlags) -> tuple[ModelEntry, ...]:
    if not flags.model_config_file:
        return (ModelEntry(flags.model_name, flags.model_base_path),)
    return entries_from_proto(read_model_server_config(flags.model_config_file))


def check_options(flags: ServerFlags) -> None:
    """Server::BuildAndStart's checks, before anything is loaded (INVALID_ARGUMENT)."""
    if flags.port == 0 and not flags.grpc_socket_path:
        raise invalid("At least one of server_options.grpc_port or server_options.grpc_socket_path "
                      "must be set.")
    if not flags.model_base_path and not flags.model_config_file:
        raise invalid("Both server_options.model_base_path and server_options.model_config_file "
                      "are empty!")
    if flags.batching_parameters_file and not flags.enable_batching:
        raise invalid("server_options.batching_parameters_file is set without setting "
                      "server_options.enable_batching to true.")
    defaults = ServerFlags()
    for name in sorted(ACCEPTED_NO_EFFECT):
        if getattr(flags, name) != getattr(defaults, name):
            log.info("--%s is accepted for compatibility and has no effect here", name)


def grpc_options(flags: ServerFlags) -> list[tuple[str, int]]:
    """gRPC server options: messages up to the request byte limit (gRPC answers
    RESOURCE_EXHAUSTED beyond it, before the message is parsed); connections with no call for
    --idle_timeout_seconds are closed (GOAWAY), as are those that do not finish the HTTP/2
    handshake in that time; keepalive pings find peers that vanished."""
    idle_ms = int(flags.idle_timeout_seconds * 1000)
    return [("grpc.max_receive_message_length", min(flags.max_request_bytes, 2 ** 31 - 1)),
            ("grpc.max_send_message_length", 2 ** 31 - 1),
            ("grpc.max_connection_idle_ms", idle_ms),
            ("grpc.server_handshake_timeout_ms", idle_ms),
            ("grpc.keepalive_time_ms", max(idle_ms, 60_000)),
            ("grpc.keepalive_timeout_ms", 20_000)]


def _poll_config_file(flags: ServerFlags, manager: ModelManager, stop: threading.Event) -> None:
    """--model_config_file_poll_wait_seconds: re-read the file and reload it every period, as
    TF Serving does (so a reload refused earlier, e.g. for a label, is retried)."""
    def loop() -> None:
        while not stop.wait(flags.model_config_file_poll_wait_seconds):
            try:
                manager.set_config(model_entries(flags))
            except ServingError as exc:
                log.error("PollFilesystemAndReloadConfig failed to ReloadConfig: %s", exc)

    threading.Thread(target=loop, name="config-poll", daemon=True).start()


def _without_traceback(record: logging.LogRecord) -> bool:
    record.exc_info, record.exc_text = None, None
    return True


def run(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s.%(msecs)03d %(levelname).1s tfsctl-serve] %(message)s",
                        datefmt="%Y-%m-%d %H:%M:%S")
    # uvicorn's own log is one line per malformed request and start-up chatter; its errors stay
    logging.getLogger("uvicorn").setLevel(logging.ERROR)
    # gRPC logs a request it cannot parse (answered INTERNAL) with a traceback of its own code
    logging.getLogger("grpc._common").addFilter(_without_traceback)
    try:
        flags = parse_flags(list(sys.argv[1:] if argv is None else argv))
    except FlagError as exc:
        print(f"tfsctl serve: {exc}\n{USAGE}", file=sys.stderr)
        return EXIT_FAILURE
    if flags.version:
        print(f"TensorFlow ModelServer: {VERSION}")
        return 0
    signals = StopSignals()
    # `kill -USR1` prints every thread's stack to the log: how to see where a server that
    # does not stop (or answer) is stuck, without a debugger in the container.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return _serve(flags, signals)
    except Interrupted:
        return 0
    except ServingError as exc:
        print(f"Failed to start server. Error: {exc.with_code()}", file=sys.stderr)
        return EXIT_FAILURE


def _serve(flags: ServerFlags, signals: StopSignals) -> int:
    check_options(flags)
    entries = model_entries(flags)
    batching = read_batching(flags.batching_parameters_file) if flags.enable_batching else None
    import_tensorflow()

    from tfsctl.serve.batching import Batcher
    from tfsctl.serve.core import Core
    from tfsctl.serve.loader import LoadedVersion, load_version
    from tfsctl.serve.manager import ModelManager
    from tfsctl.serve.metrics import Metrics
    from tfsctl.serve.warmup import warm_up

    signals.started()
    stop = signals.stop
    batcher = None
    if batching is not None:
        log.info("Batching requests: %s", batching)
        batcher = Batcher(batching)

    def load(path: str) -> LoadedVersion:
        """Load a version and, as TF Serving does, replay its warmup records before it is
        AVAILABLE; a warmup failure is the version's load failure."""
        loaded = load_version(path, flags.tags)
        if flags.enable_model_warmup:
            try:
                warm_up(core, loaded, flags.num_request_iterations_for_warmup)
            except BaseException:
                loaded.close()
                raise
        return loaded

    manager = ModelManager(load,
                           allow_unavailable_labels=flags.allow_version_labels_for_unavailable_models,
                           max_load_retries=flags.max_num_load_retries,
                           load_retry_interval=flags.load_retry_interval_micros / 1e6,
                           stop=stop)
    core, metrics = Core(manager, batcher), Metrics()
    manager.start(flags.file_system_poll_wait_seconds)
    try:
        return _start_serving(flags, signals, entries, manager, core, metrics)
    except BaseException:
        # the start failed (a newest version did not load, a port is taken) while the
        # manager may still be loading another version: that load ends first, or the
        # interpreter's exit would cut through TensorFlow's C++ frames and abort the process
        manager.stop()
        raise


def _start_serving(flags: ServerFlags, signals: StopSignals, entries: tuple[ModelEntry, ...],
                   manager: ModelManager, core: Core, metrics: Metrics) -> int:
    """The first config loaded, then gRPC and REST until a signal; the exit code. The
    caller stops `manager` if this raises."""
    import grpc

    from tfsctl.serve.grpc_service import ModelServicer, PredictionServicer, add_services
    from tfsctl.serve.http_server import RestServer
    from tfsctl.serve.rest import RestApi
    from tfsctl.servingapi.limits import RequestLimits

    stop = signals.stop
    # Labels are checked before anything loads, so a first config with labels fails unless
    # --allow_version_labels_for_unavailable_models, as in TF Serving (tensorflow/serving#1230).
    manager.set_config(entries)  # returns early, without raising, once `stop` is set
    if stop.is_set():  # a signal while the first versions loaded: nothing listens yet
        manager.stop()
        log.info("Server stopped")
        return 0
    if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
        _poll_config_file(flags, manager, stop)

    limits = RequestLimits(flags.max_request_elements, flags.max_request_bytes)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="grpc"),
                              options=grpc_options(flags))
    add_services(grpc_server, PredictionServicer(core, metrics, limits,
                                                 flags.enable_serialization_as_tensor_content),
                 ModelServicer(core))
    host = f"[{flags.host}]" if ":" in flags.host else flags.host
    addresses = ([f"{host}:{flags.port}"] if flags.port else []) + (
        [f"unix:{flags.grpc_socket_path}"] if flags.grpc_socket_path else [])
    for address in addresses:
        try:
            bound = grpc_server.add_insecure_port(address)
        except RuntimeError:
            bound = 0
        if not bound:
            raise invalid(f"Failed to BuildAndStart gRPC server: cannot listen on {address}")
    grpc_server.start()
    for address in addresses:
        log.info("Running gRPC ModelServer at %s ...", address)

    rest = None
    if flags.rest_api_port and flags.rest_api_port == flags.port:
        log.error("server_options.http_port cannot be same as grpc_port. Please use a different "
                  "port for HTTP/REST API. Skipped exporting HTTP/REST API.")
    elif flags.rest_api_port:
        path = metrics_path(flags.monitoring_config_file) if flags.monitoring_config_file else None
        api = RestApi(core, metrics, path, flags.rest_api_enable_cors_support, limits)
        try:
            rest = RestServer((flags.host, flags.rest_api_port), api,
                              threads=flags.rest_api_num_threads,
                              idle_timeout=flags.idle_timeout_seconds, drain_timeout=DRAIN_SECONDS)
        except OSError as exc:
            grpc_server.stop(0)
            raise invalid(f"Failed to start HTTP Server at {flags.host}:{flags.rest_api_port}: "
                          f"{exc.strerror}") from None
        rest.start()
        log.info("Exporting HTTP/REST API at:%s:%d ...", flags.host, flags.rest_api_port)

    signals.wait()  # returns at once if a signal came while gRPC or REST started
    if rest is not None:
        rest.drain(DRAIN_SECONDS)
    grpc_server.stop(grace=DRAIN_SECONDS).wait()
    manager.stop()
    log.info("Server stopped")
    return 0
