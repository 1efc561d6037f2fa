"""The side files TF Serving reads at start, parsed as TF Serving parses them.

ModelServerConfig is tfsctl's own binding (tfsctl.protos); MonitoringConfig and
BatchingParameters, which only the server reads, are declared here from their
.proto definitions (monitoring_config.proto, session_bundle_config.proto)
and every file is read with protobuf's own text format: an unknown field, a
wrong type or a typo fails exactly where TF Serving's ParseProtoTextFile
would, with its "Error parsing text-format" wording.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,  # noqa: F401 - registers wrappers.proto in the pool
)

from tfsctl.protos import model_server_config_pb2, tf_serving_names
from tfsctl.serverconfig.model_config import ModelConfigError, ModelEntry, from_proto
from tfsctl.servingapi.status import Code, ServingError, invalid

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"

_F = descriptor_pb2.FieldDescriptorProto


def _messages() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="tfsctl/serve/tfs_side_configs.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])

    def message(name: str, *specs: tuple[str, int, int, int, str]) -> None:
        proto = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in specs:
            proto.field.add(name=field_name, number=number, type=kind, label=label,
                            type_name=type_name or None)

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    msg = _F.TYPE_MESSAGE
    message("PrometheusConfig", ("enable", 1, _F.TYPE_BOOL, one, ""),
            ("path", 2, _F.TYPE_STRING, one, ""))
    message("MonitoringConfig",
            ("prometheus_config", 1, msg, one, ".tensorflow.serving.PrometheusConfig"))
    message("BatchingParameters",
            ("max_batch_size", 1, msg, one, ".google.protobuf.Int64Value"),
            ("batch_timeout_micros", 2, msg, one, ".google.protobuf.Int64Value"),
            ("max_enqueued_batches", 3, msg, one, ".google.protobuf.Int64Value"),
            ("num_batch_threads", 4, msg, one, ".google.protobuf.Int64Value"),
            ("thread_pool_name", 5, msg, one, ".google.protobuf.StringValue"),
            ("allowed_batch_sizes", 6, _F.TYPE_INT64, many, ""),
            ("pad_variable_length_inputs", 7, _F.TYPE_BOOL, one, ""),
            ("enable_large_batch_splitting", 8, msg, one, ".google.protobuf.BoolValue"),
            ("max_execution_batch_size", 9, msg, one, ".google.protobuf.Int64Value"))
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(file.name)
    except KeyError:
        pool.Add(file)
    return {name: message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("MonitoringConfig", "BatchingParameters")}


_CLASSES = _messages()


def parse_text_file(path: str, message: Any) -> Any:
    """ParseProtoTextFile: read `path` into `message`, or INVALID_ARGUMENT as TF Serving says."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ServingError(Code.NOT_FOUND, f"{path}; {exc.strerror}") from None
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise invalid(tf_serving_names(f"Error parsing text-format {message.DESCRIPTOR.full_name}: {exc}")
                      ) from None
    return message


def read_model_server_config(path: str) -> Any:
    return parse_text_file(path, model_server_config_pb2.ModelServerConfig())


def metrics_path(path: str) -> str | None:
    """The Prometheus path a monitoring config enables, or None when it is off."""
    config = parse_text_file(path, _CLASSES["MonitoringConfig"]())
    prometheus = config.prometheus_config
    if not prometheus.enable:
        return None
    return prometheus.path or DEFAULT_METRICS_PATH


@dataclass(frozen=True)
class Batching:
    """BatchingParameters with TF Serving's defaults filled in."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    allowed_batch_sizes: tuple[int, ...] = ()


def read_batching(path: str | None) -> Batching:
    """BatchingParameters (defaults when no file), with the checks TF Serving's batching
    session makes."""
    params = _CLASSES["BatchingParameters"]()
    if path:
        parse_text_file(path, params)
    defaults = Batching()

    def value(name: str) -> int:
        return getattr(params, name).value if params.HasField(name) else getattr(defaults, name)

    max_batch = value("max_batch_size")
    allowed = tuple(params.allowed_batch_sizes)
    if max_batch <= 0:
        raise invalid("max_batch_size must be positive")
    if any(b <= a for a, b in zip(allowed, allowed[1:], strict=False)):
        raise invalid("allowed_batch_sizes entries must be monotonically increasing")
    limit = (params.max_execution_batch_size.value
             if params.enable_large_batch_splitting.value and params.HasField(
                 "max_execution_batch_size") else max_batch)
    if allowed and allowed[-1] != limit:
        raise invalid("final entry in allowed_batch_sizes must equal max_batch_size when "
                      "enable_large_batch_splitting is False")
    return Batching(max_batch, value("batch_timeout_micros"), max(1, value("max_enqueued_batches")),
                    max(1, value("num_batch_threads")), allowed)


def entries_from_proto(config: Any) -> tuple[ModelEntry, ...]:
    """ModelEntry tuples from a ModelServerConfig, with ServerCore's platform checks."""
    for block in config.model_config_list.config:
        if block.model_type and block.model_platform:
            raise invalid("Illegal setting both ModelServerConfig::model_type (deprecated) and "
                          f"ModelServerConfig::model_platform, model name is {block.name}")
        if not block.model_type and not block.model_platform:
            raise invalid("Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                          f"ModelServerConfig::model_platform, model name is {block.name}")
    try:
        return from_proto(config)
    except ModelConfigError as exc:
        raise invalid(str(exc)) from None
