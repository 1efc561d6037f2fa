"""A model of the spec: its base path, platform, version policy, labels, the versions to
export, smoke requests and warmup records (model.py holds the servers and the document).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import (
    LABEL_PATTERN,
    Name,
    SpecPath,
    VersionNumber,
)
from tfsctl.spec.sources import VersionSpec

# ---------------------------------------------------------------- version policy


class PolicyKind(StrEnum):
    ALL = "all"
    LATEST = "latest"
    SPECIFIC = "specific"


class LatestPolicy(Strict):
    """Serve the N highest version numbers found (TensorFlow Serving's default is latest 1)."""

    latest: int = Field(ge=1, description="How many of the newest versions to serve.")

    @property
    def kind(self) -> PolicyKind:
        return PolicyKind.LATEST

    def select(self, available: Iterable[int]) -> set[int]:
        """The versions TF Serving loads from `available` under this policy."""
        return set(sorted(set(available))[-self.latest:])


class SpecificPolicy(Strict):
    """Serve exactly these versions."""

    specific: list[VersionNumber] = Field(min_length=1)

    @property
    def kind(self) -> PolicyKind:
        return PolicyKind.SPECIFIC

    def select(self, available: Iterable[int]) -> set[int]:
        """Exactly the listed versions (TF Serving waits for any that are missing)."""
        return set(self.specific)

    @field_validator("specific")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("lists a version twice")
        return sorted(value)


class AllPolicy(Strict):
    """Serve every version found. Written `policy: all`."""

    @model_serializer
    def _as_word(self) -> str:
        return "all"

    @property
    def kind(self) -> PolicyKind:
        return PolicyKind.ALL

    def select(self, available: Iterable[int]) -> set[int]:
        return set(available)


def _policy_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return value.kind.value  # type: ignore[attr-defined]
    if value == "all":
        return "all"
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if key in ("latest", "specific") else None
    return None


Policy = Annotated[
    Annotated[AllPolicy, Tag("all"), WithJsonSchema({"const": "all"})]
    | Annotated[LatestPolicy, Tag("latest")]
    | Annotated[SpecificPolicy, Tag("specific")],
    Discriminator(
        _policy_kind,
        custom_error_type="policy_kind",
        custom_error_message="a policy is `all`, `{latest: N}` or `{specific: [v1, v2]}`",
    ),
]


# ---------------------------------------------------------------- smoke requests


class SmokeTest(Strict):
    """A request apply sends after a change, and the answer it must get.

    `request` is a TensorFlow Serving REST predict body; `expect` is compared
    with the answer, numbers within `tolerance`.
    """

    name: str | None = None
    version: VersionNumber | None = Field(default=None, description="Ask this version.")
    label: str | None = Field(default=None, description="Ask the version under this label.")
    request: dict[str, Any] = Field(description='A predict body, e.g. {"instances": [1.0]}.')
    expect: dict[str, Any] = Field(description='Part of the answer, e.g. {"predictions": [2.5]}.')
    tolerance: float = Field(default=1e-6, ge=0)

    @field_validator("request", "expect")
    @classmethod
    def _json(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Apply sends the request as JSON: refuse here what JSON cannot carry (an integer
        of thousands of digits, a lone surrogate)."""
        try:
            json.dumps(value).encode("utf-8")
        except (TypeError, ValueError) as exc:
            reason = "it holds a number of over 4,300 digits" if "digits" in str(exc) else exc
            raise ValueError(f"cannot be sent as JSON: {reason}") from None
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SmokeTest:
        if self.version is not None and self.label is not None:
            raise ValueError("give `version` or `label`, not both")
        return self


# ---------------------------------------------------------------- warmup requests

# TF Serving reads at most this many records from a version's warmup file
MAX_WARMUP_RECORDS = 1000


class WarmupRequest(Strict):
    """A request TF Serving replays when it loads a version, before the version is AVAILABLE,
    so that the first real request after a rollout is not the slow one."""

    request: dict[str, Any] = Field(description='A predict body, as in the REST API, e.g. '
                                                '{"instances": [1.0]} (with an optional '
                                                '"signature_name").')


# ---------------------------------------------------------------- models


class ModelSpec(Strict):
    """A model a server serves: where its versions live, which are served, their labels."""

    name: Name
    base_path: SpecPath | None = Field(default=None, description="Directory of the version dirs; "
                                   "default <model_root>/<name>; relative to the model root.")
    platform: str = Field(default="tensorflow", pattern=r"^[a-z][a-z0-9_]*$")
    policy: Policy = Field(default_factory=lambda: LatestPolicy(latest=1),
                           description="Which versions to serve: all, {latest: N} or "
                                       "{specific: [..]}; default {latest: 1} as in TF Serving.")
    versions: dict[VersionNumber, VersionSpec] = Field(
        default_factory=dict, description="Versions this spec knows, by number, each with an "
                                          "optional source to export from.")
    labels: dict[Annotated[str, Field(pattern=LABEL_PATTERN)], VersionNumber] = Field(
        default_factory=dict, description="Version labels, e.g. {stable: 1, canary: 2}.")
    prune: bool = Field(default=False, description="Delete version dirs on disk that this spec "
                                                   "does not declare (kept by default).")
    smoke: list[SmokeTest] = Field(default_factory=list)
    warmup: list[WarmupRequest] | Literal["smoke"] = Field(
        default_factory=list, max_length=MAX_WARMUP_RECORDS,
        description="Requests written into each version tfsctl exports "
                    "(assets.extra/tf_serving_warmup_requests), replayed by the server when it "
                    "loads the version; `smoke` reuses the smoke requests. Versions already on "
                    "disk are never rewritten: they keep the warmup file they have.")

    @property
    def warmup_requests(self) -> list[dict[str, Any]]:
        """The predict bodies to write as warmup records (the smoke requests for `smoke`)."""
        if self.warmup == "smoke":
            return [test.request for test in self.smoke][:MAX_WARMUP_RECORDS]
        return [item.request for item in self.warmup]

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_string(cls, value: Any) -> Any:
        return AllPolicy() if value == "all" else value

    @field_validator("versions", mode="before")
    @classmethod
    def _empty_versions(cls, value: Any) -> Any:
        """`2:` with nothing after it means "version 2 exists, no source"."""
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value
