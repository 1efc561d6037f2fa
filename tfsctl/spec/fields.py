"""Field types and validators the spec's models share: names, versions, ports, flag
values and paths (checked for what the OS accepts, resolved against a base directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo

#: The image used when a server names none; pinned so that plans are reproducible.
DEFAULT_IMAGE = "tensorflow/serving:2.19.1"
#: Prometheus metrics path that TensorFlow Serving documents.
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)
#: TF Serving restricts version labels to word characters (serving_config.md: `[a-zA-Z0-9_]+`).
LABEL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
FLAG_PATTERN = r"^[a-z][a-z0-9_]*$"


def _safe_name(value: str) -> str:
    """Names become path components and container names: no `/`, no `..`, no dot-files."""
    if not _NAME_RE.match(value) or ".." in value:
        raise ValueError("not a safe name (it becomes a directory and a container name; "
                         "no '/', no '..', at most 128 characters)")
    return value


Name = Annotated[str, AfterValidator(_safe_name),
                 Field(description="Letters, digits, '_', '-', '.'; safe as a path component.")]
VersionNumber = Annotated[int, Field(ge=0, le=2**63 - 1,
                                     description="A version number: the integer name of a "
                                                 "version directory (00000123 is 123).")]
Port = Annotated[int, Field(ge=1, le=65535)]


def _flag_value(value: str | int | float | bool) -> str | int | float | bool:
    """A flag is written on the server's command line, where numbers are 64-bit (and one of
    thousands of digits cannot even be turned into text)."""
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        raise ValueError("the number does not fit in 64 bits")
    return value


FlagValue = Annotated[str | int | float | bool, AfterValidator(_flag_value)]


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _usable_path(value: object) -> object:
    """Paths the OS cannot take (a NUL byte, a name over NAME_MAX, over PATH_MAX) are
    refused here, with the key's location, instead of failing later in a filesystem call.
    So are URLs: `s3://b/m` would otherwise become the local directory `s3:/b/m`."""
    if isinstance(value, str):
        if value.lower().startswith("s3://"):
            raise ValueError("s3:// paths are not supported: TF Serving images from 2.7 on "
                             "have no S3 filesystem (it moved to tensorflow-io), and tfsctl "
                             "exports and inspects versions on a local disk")
        if _URL.match(value):
            raise ValueError(f"{value.split('://')[0]}:// paths are not supported: tfsctl "
                             "exports and inspects versions on a local disk")
        if "\x00" in value:
            raise ValueError("a path cannot contain a NUL byte (\\0)")
        if len(value.encode("utf-8", "surrogatepass")) > 4095:
            raise ValueError("the path is longer than the 4,095 bytes the OS accepts")
        if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in value.split("/")):
            raise ValueError("a path component is longer than the 255 bytes the OS accepts")
    return value


#: A path in the spec (relative ones are resolved against the spec file or the model root).
SpecPath = Annotated[Path, BeforeValidator(_usable_path)]


def base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def absolute(path: Path, base: Path) -> Path:
    """Absolute and normalised, without following symlinks (plan checks those on disk)."""
    expanded = Path(os.path.expanduser(str(path)))
    return Path(os.path.normpath(expanded if expanded.is_absolute() else base / expanded))
