"""How a server is started: its flags and the side files they point at.

Every runtime starts the same server (`tensorflow_model_server`, or the
compatible `tfsctl serve`) with the same flags; what differs is given by the
runtime as a `ServerView`: where the server sees the model root (/models in a
container, the host path for a process) and the flags that make it listen.
Anything here that changes means the server must restart, unlike model.config,
which a reload applies hot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tfsctl.serverconfig.model_config import server_model_config_path
from tfsctl.spec.model import Batching, Monitoring, Server

BATCHING_FILE = "batching.config"
MONITORING_FILE = "monitoring.config"


def render_batching(batching: Batching) -> str:
    """BatchingParameters text format (`max_batch_size { value: 128 }`), TF Serving's file."""
    lines = []
    for name in ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                 "num_batch_threads"):
        value = getattr(batching, name)
        if value is not None:
            lines.append(f"{name} {{ value: {value} }}")
    for size in batching.allowed_batch_sizes or ():
        lines.append(f"allowed_batch_sizes: {size}")
    if batching.pad_variable_length_inputs is not None:
        lines.append(f"pad_variable_length_inputs: {str(batching.pad_variable_length_inputs).lower()}")
    return "\n".join(lines) + "\n"


def render_monitoring(monitoring: Monitoring) -> str:
    enable = "true" if monitoring.prometheus else "false"
    return f'prometheus_config {{\n  enable: {enable}\n  path: "{monitoring.path}"\n}}\n'


@dataclass(frozen=True)
class ServerView:
    """How a runtime presents the host to the server: where the model root appears, and the
    flags that bind its ports (none where the runtime maps ports itself, as a container)."""

    root: str
    listen_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class SideFile:
    """A file tfsctl writes into the model root for the server to read at start."""

    name: str
    content: str


def side_files(server: Server) -> tuple[SideFile, ...]:
    files = []
    if server.batching is not None:
        files.append(SideFile(BATCHING_FILE, render_batching(server.batching)))
    if server.served_monitoring is not None:
        files.append(SideFile(MONITORING_FILE, render_monitoring(server.served_monitoring)))
    return tuple(files)


def host_side_file_path(server: Server, name: str) -> Path:
    return server.model_root / name


def _flag(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"--{name}={value}"


def listen_flags(host: str, grpc_port: int, rest_port: int) -> tuple[str, ...]:
    """The flags that bind the server's ports on `host`."""
    return (_flag("host", host), _flag("port", grpc_port), _flag("rest_api_port", rest_port))


def server_args(server: Server, view: ServerView) -> tuple[str, ...]:
    """The server's flags, with paths as the server sees them (`view`)."""
    args = [*view.listen_args, _flag("model_config_file", server_model_config_path(view.root))]
    if server.batching is not None:
        args += ["--enable_batching=true",
                 _flag("batching_parameters_file", f"{view.root.rstrip('/')}/{BATCHING_FILE}")]
    if server.served_monitoring is not None:
        args.append(_flag("monitoring_config_file", f"{view.root.rstrip('/')}/{MONITORING_FILE}"))
    # Always: without it TF Serving refuses to *start* from a model.config with labels
    # (tensorflow/serving#1230), so a reboot, a crash restart or a rollback to the previous
    # server would fail. Moving a label onto a version that is not AVAILABLE is still refused
    # with it, and apply moves and sets labels only once their version is AVAILABLE anyway.
    args.append("--allow_version_labels_for_unavailable_models=true")
    args += [_flag(name, value) for name, value in sorted(server.flags.items())]
    return tuple(args)

