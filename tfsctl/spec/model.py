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

from ipaddress import IPv4Address
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    IPvAnyAddress,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import (
    DEFAULT_METRICS_PATH,
    ENV_NAME_PATTERN,
    FLAG_PATTERN,
    NAME_PATTERN,
    FlagValue,
    Name,
    Port,
    SpecPath,
    absolute,
    base_dir,
)
from tfsctl.spec.gateways import Gateway
from tfsctl.spec.kubernetes import Kubernetes
from tfsctl.spec.model_spec import (
    ModelSpec,
)
from tfsctl.spec.rollout import Rollout
from tfsctl.spec.runtimes import RuntimeOptions, flat_server_schema, with_runtime_options

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
