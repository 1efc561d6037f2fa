"""The executable half of a server's plan as JSON, and back (part of docs/plan-json.md).

What apply runs beyond the reviewable changes: where the server is, its desired
runtime (secret values never: only where they come from), the model.config of
the first step, the versions to wait for, the smoke requests, the sources to
export. `plan.render.json` embeds it under each server's `execution` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from pydantic import TypeAdapter

from tfsctl.plan.model import ServerPlan
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.spec.model import SmokeTest
from tfsctl.spec.sources import Source

JsonDict = dict[str, Any]
_SOURCE: TypeAdapter[Source] = TypeAdapter(Source)


def source_to_dict(source: Source | None) -> JsonDict | None:
    return None if source is None else source.model_dump(mode="json", by_alias=True)


def source_from_dict(data: Mapping[str, Any] | None) -> Source | None:
    return None if data is None else _SOURCE.validate_python(dict(data))


def _desired(desired: DesiredRuntime | None) -> JsonDict | None:
    if desired is None:
        return None
    data = asdict(desired)
    data["settings"] = dict(desired.settings)
    return data


def _desired_from(data: Mapping[str, Any] | None) -> DesiredRuntime | None:
    if data is None:
        return None
    pairs = ("args", "env", "secret_env")
    values: dict[str, Any] = {
        k: (tuple(tuple(p) if isinstance(p, list) else p for p in v) if k in pairs else v)
        for k, v in data.items()}
    values["settings"] = tuple(sorted(dict(data["settings"]).items()))
    return DesiredRuntime(**values)


def execution_to_dict(server: ServerPlan, entry: Any) -> JsonDict:
    """`entry` renders one model.config entry (the JSON module's own form of it)."""
    return {
        "target": server.target.to_json() if server.target else None,
        "desired_runtime": _desired(server.desired_runtime),
        "model_config_path": server.model_config_path,
        "first_model_config": [entry(e) for e in server.first_entries],
        "serve": {model: list(versions) for model, versions in server.serve},
        "smoke": {model: [t.model_dump(mode="json") for t in tests] for model, tests in server.smoke},
        "cleanup": list(server.cleanup),
    }


def execution_from_dict(data: Mapping[str, Any], entry_from: Any) -> dict[str, Any]:
    """The ServerPlan fields `execution_to_dict` wrote, as keyword arguments."""
    target = data["target"]
    return {
        "target": RuntimeTarget(**target) if target is not None else None,
        "desired_runtime": _desired_from(data["desired_runtime"]),
        "model_config_path": data["model_config_path"],
        "first_entries": tuple(entry_from(e) for e in data["first_model_config"]),
        "serve": tuple((model, tuple(versions)) for model, versions in data["serve"].items()),
        "smoke": tuple((model, tuple(SmokeTest.model_validate(t) for t in tests))
                       for model, tests in data["smoke"].items()),
        "cleanup": tuple(data["cleanup"]),
    }
