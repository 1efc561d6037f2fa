"""Read the files a server reads (model.config and the side files), as they are on disk."""

from __future__ import annotations

from pathlib import Path

from tfsctl.live.state import ConfigFile
from tfsctl.runtimes.desired import desired_model_entries
from tfsctl.serverconfig.launch import BATCHING_FILE, MONITORING_FILE
from tfsctl.serverconfig.model_config import (
    ModelConfigError,
    host_model_config_path,
    parse_text,
    render_text,
)
from tfsctl.spec.model import Server


def read_file(path: Path) -> ConfigFile:
    try:
        return ConfigFile(path, True, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ConfigFile(path, False)
    except (OSError, UnicodeDecodeError) as exc:
        return ConfigFile(path, True, None, None, f"cannot read it: {exc}")


def read_model_config(server: Server) -> ConfigFile:
    """model.config, parsed. protobuf's text parser is pure Python and slow on big
    configs, so the common case — the file is exactly what the spec renders — is
    recognised by comparing text, which gives the same entries without parsing."""
    found = read_file(host_model_config_path(server))
    if found.text is None:
        return found
    desired = desired_model_entries(server)
    if found.text == render_text(desired):
        return ConfigFile(found.path, True, found.text, desired)
    try:
        return ConfigFile(found.path, True, found.text, parse_text(found.text))
    except ModelConfigError as exc:
        return ConfigFile(found.path, True, found.text, None, str(exc))


def read_side_files(server: Server) -> tuple[tuple[str, ConfigFile], ...]:
    return tuple((name, read_file(server.model_root / name))
                 for name in (BATCHING_FILE, MONITORING_FILE))
