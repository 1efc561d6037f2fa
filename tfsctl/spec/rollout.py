"""`rollout:` on a server: how a change reaches its traffic (blue/green or a canary).

`blue_green` (the default) sends every request to the new instance at once, once its
versions are AVAILABLE and its smoke requests pass. `canary` sends it `weight`% of
the requests for each step's `pause`, judges it every `analysis.interval` on its own
metrics (and stable's, in the same interval), and promotes it only after the last
step; a failed interval beyond `failure_limit` aborts it. Which runtimes can split
traffic is theirs to say (a runtime profile's `canary` flag, checked in
tfsctl/runtimes/registry.py); this module is what a user may write, pure data.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue, WithJsonSchema
from pydantic_core import CoreSchema

from tfsctl.spec.base import Strict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: The longest pause or interval a spec may ask for (a typo of `30h` for `30s`).
MAX_DURATION = 24 * 3600.0


def parse_duration(value: Any) -> Any:
    """`30s`, `1.5m`, `500ms`, `2h` or a number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as 30s, 2m, 500ms")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return float(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    raise ValueError("a duration is a number of seconds or text such as 30s, 2m, 500ms")


def format_duration(seconds: float) -> str:
    """Seconds as a reviewer reads them: `30s`, `2m`, `1m30s`, `500ms`."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes and rest:
        return f"{minutes:g}m{rest:g}s"
    return f"{minutes:g}m" if minutes else f"{rest:g}s"


Duration = Annotated[float, BeforeValidator(parse_duration),
                     Field(gt=0, le=MAX_DURATION, description="e.g. 30s, 2m, 500ms"),
                     WithJsonSchema({"anyOf": [
                         {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION},
                         {"type": "string", "pattern": _DURATION.pattern}],
                         "description": "Seconds, or e.g. 30s, 2m, 500ms"})]


class CanaryStep(Strict):
    """One step of a canary: the share of requests it gets, and for how long."""

    weight: int = Field(ge=1, le=99, description="Percent of the requests the canary gets.")
    pause: Duration = Field(description="How long the step lasts (analysed every interval).")


class Analysis(Strict):
    """How each interval of a canary is judged, on the canary's own figures."""

    interval: Duration = Field(default=10.0, description="How often the canary is judged.")
    max_error_rate: float = Field(default=0.01, ge=0, le=1, description="Failed / all requests "
                                  "on the canary in an interval (above stable's own rate).")
    max_p99_latency_ms: float | None = Field(default=None, gt=0, description="The canary's "
                                             "99th percentile latency, in milliseconds.")
    min_requests: int = Field(default=50, ge=1, description="Fewer requests on the canary in "
                              "an interval make it inconclusive, never a pass.")
    failure_limit: int = Field(default=0, ge=0, description="Failed intervals tolerated "
                               "before the canary is aborted.")


#: The steps of `strategy: canary` when the spec lists none.
DEFAULT_STEPS = (CanaryStep(weight=20, pause=30.0), CanaryStep(weight=50, pause=30.0))


class Rollout(Strict):
    """How a change that starts a new instance reaches the traffic."""

    strategy: Literal["blue_green", "canary"] = Field(
        default="blue_green", description="blue_green: all requests at once, after AVAILABLE "
        "and smoke; canary: a share of them first, per `steps`, judged by `analysis`.")
    steps: tuple[CanaryStep, ...] = Field(default=(), description="The canary's steps, "
                                          "increasing weights (default 20% then 50%, 30s each).")
    analysis: Analysis = Field(default_factory=Analysis)
    on_inconclusive: Literal["stop", "smoke_traffic"] = Field(
        default="stop", description="Too few requests in an interval: `stop` aborts the canary "
        "and says so; `smoke_traffic` sends the smoke requests to the canary to make up the "
        "difference.")

    @model_validator(mode="before")
    @classmethod
    def _word(cls, data: Any) -> Any:
        """`rollout: canary` is `rollout: {strategy: canary}`."""
        return {"strategy": data} if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """Editors take the word too, as validation does."""
        return {"anyOf": [{"enum": ["blue_green", "canary"]}, handler(core_schema)]}

    @model_validator(mode="after")
    def _steps(self) -> Rollout:
        if self.strategy == "blue_green" and self.steps:
            raise ValueError("`steps` are for `strategy: canary`")
        weights = [step.weight for step in self.steps]
        if weights != sorted(set(weights)):
            raise ValueError("the steps' weights must increase (e.g. 20, then 50)")
        return self

    @property
    def canary(self) -> bool:
        return self.strategy == "canary"

    @property
    def canary_steps(self) -> tuple[CanaryStep, ...]:
        """The steps a canary runs (the defaults when the spec lists none)."""
        return (self.steps or DEFAULT_STEPS) if self.canary else ()
