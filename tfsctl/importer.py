"""`tfsctl import`: an existing model.config becomes a spec a team can own.

The resulting spec renders back to an equivalent model.config (same names,
base paths, platforms, policies and labels). Versions that labels or a
specific policy name are declared with no source (they already exist on disk).
`${VAR}` references in base paths are expanded from the environment, as
TensorFlow Serving's own test configs expect; an unset one is an error.
Where the server sees the model root, and whether base paths may leave it,
comes from the chosen runtime's profile.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml

from tfsctl.errors import TfsctlError
from tfsctl.runtimes.base import RuntimeProfile
from tfsctl.runtimes.registry import profile
from tfsctl.serverconfig.model_config import ModelEntry, PolicyKind
from tfsctl.spec.model import Runtime

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match[1]
        if name not in environ:
            raise TfsctlError(f"model.config refers to ${{{name}}}, which is not set",
                              f"export {name}=/path/to/model before importing")
        return environ[name]

    return _VAR.sub(sub, text)


def _model(entry: ModelEntry, runtime: RuntimeProfile, model_root: PurePosixPath) -> dict[str, Any]:
    model: dict[str, Any] = {"name": entry.name}
    base = PurePosixPath(entry.base_path)
    seen = PurePosixPath(runtime.seen_root(str(model_root)))
    if seen in base.parents:
        relative = base.relative_to(seen)
    elif runtime.may_leave_root:
        relative = base
    else:
        raise TfsctlError(f"model {entry.name!r}: base path {base} is not under {seen}",
                          f"a {runtime.kind.value} server sees only {seen}; use another --runtime")
    if str(relative) != entry.name:
        model["base_path"] = str(relative)
    if entry.platform != "tensorflow":
        model["platform"] = entry.platform
    policy = entry.policy
    declared: set[int] = set(dict(entry.labels).values())
    if policy.kind is PolicyKind.ALL:
        model["policy"] = "all"
    elif policy.kind is PolicyKind.SPECIFIC:
        model["policy"] = {"specific": list(policy.specific)}
        declared |= set(policy.specific)
    else:
        model["policy"] = {"latest": policy.latest}
    if declared:
        model["versions"] = {version: None for version in sorted(declared)}
    if entry.labels:
        model["labels"] = dict(entry.labels)
    return model


def import_entries(entries: tuple[ModelEntry, ...], *, server_name: str, runtime: Runtime,
                   model_root: str | None, environ: Mapping[str, str] | None = None) -> str:
    """YAML text of a spec serving exactly `entries`."""
    environ = os.environ if environ is None else environ
    entries = tuple(
        ModelEntry(e.name, expand_env(e.base_path, environ), e.platform, e.policy, e.labels)
        for e in entries)
    chosen = profile(runtime)
    if model_root is None and chosen.mounts_root:
        raise TfsctlError(f"a {runtime.value} server needs the host directory it sees as "
                          f"{chosen.seen_root('')}", "pass --model-root DIR")
    if model_root is None:
        parents = [str(PurePosixPath(e.base_path).parent) for e in entries] or ["models"]
        model_root = os.path.commonpath(parents) if all(p.startswith("/") for p in parents) \
            else "models"
    root = PurePosixPath(model_root)
    models = [_model(e, chosen, root) for e in entries]
    server: dict[str, Any] = {"name": server_name, "runtime": runtime.value,
                              "model_root": model_root}
    if chosen.may_leave_root and any(
            root not in PurePosixPath(e.base_path).parents for e in entries):
        server["allow_external_base_paths"] = True
    server["models"] = models
    spec = {"apiVersion": "tfsctl/v1", "servers": [server]}
    header = "# Imported by `tfsctl import`; review, then commit.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
