"""The execution half of a plan as JSON, and back (the `execution` key of docs/plan-json.md).

Each step is an object with its `kind` and its fields, in the order apply runs
them; the reader rebuilds the exact frozen steps, so a saved plan executes
what was saved. Secret values are never here: the desired runtime names only
where each secret comes from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import TypeAdapter

from tfsctl.plan.execution import STEP_TYPES, ExecStep, ServerExecution
from tfsctl.rollout.plan import Thresholds
from tfsctl.runtimes.base import RuntimeTarget, Step
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model_spec import SmokeTest
from tfsctl.spec.sources import Source

JsonDict = dict[str, Any]
_SOURCE: TypeAdapter[Source] = TypeAdapter(Source)


def _desired(desired: DesiredRuntime | None) -> JsonDict | None:
    if desired is None:
        return None
    data = dataclasses.asdict(desired)
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


def _value_to_json(value: Any, entry: Callable[[ModelEntry], JsonDict]) -> Any:
    if isinstance(value, ModelEntry):
        return entry(value)
    if isinstance(value, SmokeTest):
        return value.model_dump(mode="json")
    if isinstance(value, Step):
        return value.value
    if isinstance(value, tuple):
        return [_value_to_json(v, entry) for v in value]
    if isinstance(value, Thresholds):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):  # a version's source
        return value.model_dump(mode="json", by_alias=True)
    return value


def step_to_dict(step: ExecStep, entry: Callable[[ModelEntry], JsonDict]) -> JsonDict:
    return {"kind": step.kind, **{f.name: _value_to_json(getattr(step, f.name), entry)
                                  for f in dataclasses.fields(step)}}


def _field_from(name: str, value: Any, entry_from: Callable[[Mapping[str, Any]], ModelEntry]
                ) -> Any:
    if name == "entries":
        return tuple(entry_from(e) for e in value)
    if name == "source":
        return _SOURCE.validate_python(dict(value))
    if name == "tests":
        return tuple(SmokeTest.model_validate(t) for t in value)
    if name == "thresholds":
        return Thresholds(**value)
    if name == "smoke":
        return tuple((model, tuple(SmokeTest.model_validate(t) for t in tests))
                     for model, tests in value)
    if name == "step":
        return Step(value)
    if name in ("serve", "leaving"):
        return tuple((model, tuple(versions)) for model, versions in value)
    if name == "warmup":
        return tuple(value)
    return value


def step_from_dict(data: Mapping[str, Any], entry_from: Callable[[Mapping[str, Any]], ModelEntry]
                   ) -> ExecStep:
    kind = data["kind"]
    if kind not in STEP_TYPES:
        raise ValueError(f"unknown step kind {kind!r}")
    step_type = STEP_TYPES[kind]
    names = {f.name for f in dataclasses.fields(step_type)}
    return step_type(**{k: _field_from(k, v, entry_from) for k, v in data.items() if k in names})


def execution_to_dict(execution: ServerExecution, entry: Callable[[ModelEntry], JsonDict]
                      ) -> JsonDict:
    return {
        "server": execution.server,
        "target": execution.target.to_json(),
        "desired_runtime": _desired(execution.desired_runtime),
        "secrets_digest": execution.secrets_digest,
        "destroy": execution.destroy,
        "steps": [step_to_dict(s, entry) for s in execution.steps],
        "after_commit": [step_to_dict(s, entry) for s in execution.after_commit],
    }


def execution_from_dict(data: Mapping[str, Any],
                        entry_from: Callable[[Mapping[str, Any]], ModelEntry]) -> ServerExecution:
    return ServerExecution(
        server=data["server"], target=RuntimeTarget(**data["target"]),
        desired_runtime=_desired_from(data["desired_runtime"]),
        secrets_digest=data["secrets_digest"], destroy=bool(data["destroy"]),
        steps=tuple(step_from_dict(s, entry_from) for s in data["steps"]),
        after_commit=tuple(step_from_dict(s, entry_from) for s in data["after_commit"]))
