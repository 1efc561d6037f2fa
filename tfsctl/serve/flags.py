"""tensorflow_model_server's command line: `--flag=value`, `--flag value`, `--flag`.

Every flag of tensorflow_model_server's main.cc is known, with its default.
Some are implemented, some have no meaning here and are accepted so that a
command line written for TF Serving runs unchanged (`ACCEPTED_NO_EFFECT`),
and some would change behaviour in ways this server cannot honour, so
setting them is an error rather than a silent difference (`UNSUPPORTED`).
Unknown flags are errors, as in TF Serving: a typo must not be ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tfsctl.servingapi.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_ELEMENTS


class FlagError(ValueError):
    pass


@dataclass
class ServerFlags:
    port: int = 8500
    grpc_socket_path: str = ""
    rest_api_port: int = 0
    rest_api_num_threads: int = 0
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    # tfsctl's own flags: tensorflow_model_server always binds every address, and bounds
    # neither what a request may hold nor how long a connection may stay silent
    host: str = "0.0.0.0"
    max_request_elements: int = DEFAULT_MAX_ELEMENTS
    max_request_bytes: int = DEFAULT_MAX_BYTES
    idle_timeout_seconds: float = 60.0
    enable_batching: bool = False
    allow_version_labels_for_unavailable_models: bool = False
    batching_parameters_file: str = ""
    enable_per_model_batching_parameters: bool = False
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    model_name: str = "default"
    model_base_path: str = ""
    num_load_threads: int = 0
    num_unload_threads: int = 0
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60 * 1000 * 1000
    file_system_poll_wait_seconds: int = 1
    flush_filesystem_caches: bool = True
    tensorflow_session_parallelism: int = 0
    tensorflow_session_config_file: str = ""
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    use_alts_credentials: bool = False
    ssl_config_file: str = ""
    platform_config_file: str = ""
    per_process_gpu_memory_fraction: float = 0.0
    saved_model_tags: str = "serve"
    grpc_channel_arguments: str = ""
    grpc_max_threads: int = 0
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    version: bool = False
    monitoring_config_file: str = ""
    remove_unused_fields_from_bundle_metagraph: bool = True
    prefer_tflite_model: bool = False
    num_tflite_pools: int = 1
    num_tflite_interpreters_per_pool: int = 1
    enable_signature_method_name_check: bool = False
    xla_cpu_compilation_enabled: bool = False
    xla_gpu_compilation_enabled: bool = False
    enable_profiler: bool = True
    thread_pool_factory_config_file: str = ""
    mixed_precision: str = ""
    skip_initialize_tpu: bool = False
    enable_grpc_healthcheck_service: bool = False
    enable_serialization_as_tensor_content: bool = False

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(t for t in self.saved_model_tags.split(",") if t)


# Tuning and hardware knobs with no counterpart here; accepting them changes no answer (the
# REST timeout would only turn a run slower than it into DEADLINE_EXCEEDED).
# --rest_api_num_threads sizes the REST worker pool (0: TF Serving's four per CPU).
ACCEPTED_NO_EFFECT = frozenset({
    "rest_api_timeout_in_ms", "num_load_threads", "num_unload_threads",
    "flush_filesystem_caches",
    "tensorflow_session_parallelism", "tensorflow_intra_op_parallelism",
    "tensorflow_inter_op_parallelism", "per_process_gpu_memory_fraction", "grpc_channel_arguments",
    "grpc_max_threads",
    "remove_unused_fields_from_bundle_metagraph", "num_tflite_pools",
    "num_tflite_interpreters_per_pool", "xla_cpu_compilation_enabled",
    "xla_gpu_compilation_enabled", "enable_profiler", "skip_initialize_tpu",
    "enable_per_model_batching_parameters",
})
# Features this server does not have: setting them away from the default is refused.
UNSUPPORTED = frozenset({
    "use_alts_credentials", "ssl_config_file", "platform_config_file", "prefer_tflite_model",
    "tensorflow_session_config_file", "thread_pool_factory_config_file", "mixed_precision",
})

USAGE = ("usage: tfsctl serve [--port=8500] [--rest_api_port=8501] "
         "(--model_config_file=FILE | --model_name=NAME --model_base_path=DIR) "
         "[other tensorflow_model_server flags]")

_TRUE, _FALSE = {"true", "1"}, {"false", "0"}


def _convert(name: str, kind: str, text: str) -> object:
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise FlagError(f"--{name} takes true or false, not {text!r}")
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError:
            raise FlagError(f"--{name} takes a number, not {text!r}") from None
    return text


def parse_flags(argv: list[str]) -> ServerFlags:
    kinds = {f.name: str(f.type) for f in fields(ServerFlags)}
    flags = ServerFlags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            raise FlagError(f"unknown argument: {arg}")
        name, sep, value = arg.lstrip("-").partition("=")
        if name in ("help", "h"):
            raise FlagError(USAGE)
        if name not in kinds:
            raise FlagError(f"unknown flag --{name}")
        kind = kinds[name]
        if not sep:
            if kind == "bool" and (i + 1 >= len(argv) or argv[i + 1].lower() not in _TRUE | _FALSE):
                value = "true"
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise FlagError(f"--{name} needs a value")
        setattr(flags, name, _convert(name, kind, value))
        i += 1
    defaults = ServerFlags()
    for name in sorted(UNSUPPORTED):
        if getattr(flags, name) != getattr(defaults, name):
            raise FlagError(f"--{name} is not supported by tfsctl serve")
    for name in ("max_request_elements", "max_request_bytes", "idle_timeout_seconds"):
        if getattr(flags, name) <= 0:
            raise FlagError(f"--{name} must be greater than 0")
    return flags
