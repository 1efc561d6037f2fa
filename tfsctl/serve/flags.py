"""tensorflow_model_server's command line: `--flag=value`, `--flag value`, `--flag`.

Unknown flags are errors, as in TF Serving: a typo must not be ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


class FlagError(ValueError):
    pass


@dataclass
class ServerFlags:
    port: int = 8500
    rest_api_port: int = 0
    rest_api_timeout_in_ms: int = 30000
    host: str = "0.0.0.0"
    model_name: str = "default"
    model_base_path: str = ""
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0
    file_system_poll_wait_seconds: int = 1
    enable_batching: bool = False
    batching_parameters_file: str = ""
    monitoring_config_file: str = ""
    allow_version_labels_for_unavailable_models: bool = False
    # accepted for compatibility, with no effect here:
    tensorflow_session_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    grpc_channel_arguments: str = ""
    enable_model_warmup: bool = True
    rest_api_num_threads: int = 0


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def _convert(name: str, kind: type, text: str) -> object:
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise FlagError(f"--{name} takes true or false, not {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise FlagError(f"--{name} takes a number, not {text!r}") from None
    return text


def parse_flags(argv: list[str]) -> ServerFlags:
    known = {f.name: f for f in fields(ServerFlags)}
    types = {"int": int, "bool": bool, "str": str}
    flags = ServerFlags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-"):
            raise FlagError(f"unexpected argument {arg!r}")
        name, sep, value = arg.lstrip("-").partition("=")
        if name in ("help", "h"):
            raise FlagError("usage: tfsctl serve [--port=8500] [--rest_api_port=8501] "
                            "(--model_config_file=FILE | --model_name=NAME --model_base_path=DIR) "
                            "[tensorflow_model_server flags]")
        if name not in known:
            raise FlagError(f"unknown flag --{name}")
        kind = types[str(known[name].type)]
        if not sep:
            if kind is bool and (i + 1 >= len(argv) or argv[i + 1].lower() not in _TRUE | _FALSE):
                value = "true"
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise FlagError(f"--{name} needs a value")
        setattr(flags, name, _convert(name, kind, value))
        i += 1
    if not flags.model_config_file and not flags.model_base_path:
        raise FlagError("give --model_config_file, or --model_name and --model_base_path")
    return flags
