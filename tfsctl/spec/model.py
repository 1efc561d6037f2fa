"""The desired state, as typed and frozen pydantic models.

The YAML a team writes is validated into these models; nothing downstream sees
raw dictionaries. Every model forbids unknown keys, so a typo such as `polcy:`
is an error rather than a silently ignored setting. Paths are resolved while
validating (relative to the spec file, or to the server's model root), so the
rest of tfsctl works with absolute paths only.

Field docstrings (`description=`) end up in the JSON Schema that editors use
for completion, so they are written for the person typing the YAML.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    IPvAnyAddress,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, WithJsonSchema
from pydantic_core import CoreSchema

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import (
    DEFAULT_METRICS_PATH,
    ENV_NAME_PATTERN,
    FLAG_PATTERN,
    LABEL_PATTERN,
    NAME_PATTERN,
    FlagValue,
    Name,
    Port,
    SpecPath,
    VersionNumber,
    absolute,
    base_dir,
)
from tfsctl.spec.gateways import Gateway
from tfsctl.spec.kubernetes import Kubernetes
from tfsctl.spec.rollout import Rollout
from tfsctl.spec.runtimes import RuntimeOptions, flat_server_schema, with_runtime_options
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


# ---------------------------------------------------------------- servers


class Ports(Strict):
    grpc: Port = Field(default=8500, description="gRPC port (TF Serving's --port).")
    rest: Port = Field(default=8501, description="REST port (TF Serving's --rest_api_port).")


class Batching(Strict):
    """Server-side batching (TF Serving's --enable_batching and batching parameters file)."""

    max_batch_size: int | None = Field(default=None, ge=1)
    batch_timeout_micros: int | None = Field(default=None, ge=0)
    max_enqueued_batches: int | None = Field(default=None, ge=1)
    num_batch_threads: int | None = Field(default=None, ge=1)
    allowed_batch_sizes: list[int] | None = Field(default=None, min_length=1)
    pad_variable_length_inputs: bool | None = None

    @model_validator(mode="after")
    def _allowed_sizes(self) -> Batching:
        sizes = self.allowed_batch_sizes
        if sizes is not None:
            if sizes != sorted(set(sizes)) or sizes[0] < 1:
                raise ValueError("allowed_batch_sizes must be increasing positive numbers")
            if self.max_batch_size is not None and sizes[-1] != self.max_batch_size:
                raise ValueError("the last of allowed_batch_sizes must equal max_batch_size")
        return self


class Monitoring(Strict):
    """Prometheus metrics on the REST port."""

    prometheus: bool = True
    path: str = Field(default=DEFAULT_METRICS_PATH, pattern=r"^/[A-Za-z0-9_\-/.]*$")


#: Flags tfsctl sets itself from the spec; naming them under `flags:` would fight it.
MANAGED_FLAGS = frozenset({
    "port", "rest_api_port", "model_config_file", "model_name", "model_base_path",
    "enable_batching", "batching_parameters_file", "monitoring_config_file",
    "allow_version_labels_for_unavailable_models", "host",
})


class Server(Strict):
    """One TensorFlow Serving server and the models it serves."""

    name: Name
    runtime_options: RuntimeOptions = Field(description="What only the server's runtime "
                                            "has; written flat, beside the keys below.")
    bind_address: IPvAnyAddress = Field(default=IPv4Address("127.0.0.1"), description="Address the ports are "
                                        "published on; loopback unless you mean otherwise.")
    ports: Ports = Field(default_factory=Ports)
    model_root: SpecPath = Field(default=Path("models"), description="Host directory holding the "
                             "models, mounted read-only at /models; relative to the spec file.")
    state_dir: SpecPath | None = Field(default=None, description="Where tfsctl keeps history, locks "
                                   "and logs for this server; default <model_root>/.tfsctl.")
    env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)], str] = Field(default_factory=dict)
    secret_env: dict[Annotated[str, Field(pattern=ENV_NAME_PATTERN)],
                     Annotated[str, Field(pattern=ENV_NAME_PATTERN)]] = Field(
        default_factory=dict, description="Container variable -> name of the variable in "
                                          "tfsctl's environment holding the value; never printed.")
    batching: Batching | None = None
    monitoring: Monitoring | None = None
    flags: dict[Annotated[str, Field(pattern=FLAG_PATTERN)], FlagValue] = Field(
        default_factory=dict, description="Extra tensorflow_model_server flags, without `--`.")
    kubernetes: Kubernetes | None = Field(default=None, description="What `tfsctl render "
                                          "--what kubernetes` needs: namespace, service type, "
                                          "where pods find the model root.")
    rollout: Rollout = Field(default_factory=Rollout, description="How a change that starts a "
                             "new instance reaches the traffic: blue_green (default) or canary "
                             "(runtimes whose proxy splits traffic by weight).")
    models: list[ModelSpec] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _runtime_keys(cls, data: Any) -> Any:
        """Written flat: what is not the server's own is its runtime's (see spec/runtimes)."""
        return with_runtime_options(data, set(cls.model_fields) - {"runtime_options"})

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Dumped as it is written: the runtime's options beside the server's own keys."""
        data: dict[str, Any] = handler(self)
        return {"name": data.pop("name"), **data.pop("runtime_options"), **data}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        schema = handler(core_schema)
        flat_server_schema(handler.resolve_ref_schema(schema), handler.resolve_ref_schema)
        return schema

    @field_validator("model_root", "state_dir")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else absolute(value, base_dir(info))

    @field_validator("flags")
    @classmethod
    def _unmanaged(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & MANAGED_FLAGS)
        if taken:
            raise ValueError(f"{', '.join(taken)} is set by tfsctl from the spec (ports, batching, "
                             "monitoring, models)")
        return value

    @property
    def runtime(self) -> str:
        """The runtime's name (`docker`, `local`, ...): the key of its profile and driver."""
        return self.runtime_options.runtime

    @property
    def served_monitoring(self) -> Monitoring | None:
        """The monitoring the server runs with: the spec's, or Prometheus on its default path
        when a canary needs both instances' own figures."""
        if self.rollout.canary and (self.monitoring is None or not self.monitoring.prometheus):
            return Monitoring(path=self.monitoring.path if self.monitoring else
                              DEFAULT_METRICS_PATH)
        return self.monitoring

    @property
    def resolved_state_dir(self) -> Path:
        return self.state_dir or self.model_root / ".tfsctl"

    def base_path(self, model: ModelSpec) -> Path:
        """The model's host directory: absolute, relative paths taken from the model root."""
        if model.base_path is None:
            return self.model_root / model.name
        return absolute(model.base_path, self.model_root)

    def model(self, name: str) -> ModelSpec | None:
        return next((m for m in self.models if m.name == name), None)


class Environment(Strict):
    """Values for one environment (dev, staging, prod) that override `variables`."""

    variables: dict[str, Any] = Field(default_factory=dict)


class Spec(Strict):
    """A tfsctl spec: the servers a team wants, and what each serves."""

    api_version: Literal["tfsctl/v1"] = Field(alias="apiVersion",
                                              description="Spec format; always tfsctl/v1.")
    variables: dict[str, Any] = Field(default_factory=dict, description="Values for {{ name }} "
                                      "in any string below; an undefined name is an error.")
    environments: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Environment] = Field(
        default_factory=dict, description="Per-environment overrides, chosen with --env.")
    servers: list[Server] = Field(min_length=1)
    gateways: list[Gateway] = Field(default_factory=list, description="Web services with the "
                                    "user's pre- and post-processing in front of a server.")

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True,
                              populate_by_name=True)

    def server(self, name: str) -> Server | None:
        return next((s for s in self.servers if s.name == name), None)
