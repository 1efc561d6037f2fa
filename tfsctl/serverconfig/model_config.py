"""model.config: the spec's models as TensorFlow Serving's `ModelServerConfig`.

`ModelEntry` is tfsctl's neutral, hashable form of one `config { ... }` block,
so that the planner can compare desired and live entries field by field
without protobuf objects. Conversion to and from the proto happens only
here, with tfsctl's own binding of TF Serving's `ModelServerConfig`
(tfsctl/protos: same field names and numbers, no TensorFlow import); the text tfsctl
writes is byte for byte protobuf's own text format, so it is exactly what the server
parses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from google.protobuf import text_encoding, text_format

from tfsctl.protos import model_server_config_pb2, tf_serving_names
from tfsctl.spec.model import Server
from tfsctl.spec.model_spec import AllPolicy, LatestPolicy, ModelSpec, PolicyKind, SpecificPolicy

MODEL_CONFIG_FILE = "model.config"


@dataclass(frozen=True, order=True)
class VersionPolicy:
    """A version policy as model.config states it (TF Serving's default is latest 1)."""

    kind: PolicyKind = PolicyKind.LATEST
    latest: int = 1
    specific: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.kind is PolicyKind.LATEST:
            return f"latest {self.latest}"
        if self.kind is PolicyKind.SPECIFIC:
            return "specific [" + ", ".join(map(str, self.specific)) + "]"
        return "all"

    @classmethod
    def from_spec(cls, model: ModelSpec) -> VersionPolicy:
        policy = model.policy
        if isinstance(policy, AllPolicy):
            return cls(PolicyKind.ALL, latest=0)
        if isinstance(policy, LatestPolicy):
            return cls(PolicyKind.LATEST, latest=policy.latest)
        assert isinstance(policy, SpecificPolicy)
        return cls(PolicyKind.SPECIFIC, latest=0, specific=tuple(policy.specific))


@dataclass(frozen=True)
class ModelEntry:
    """One model in model.config. `base_path` is the path *the server* sees."""

    name: str
    base_path: str
    platform: str = "tensorflow"
    policy: VersionPolicy = field(default_factory=VersionPolicy)
    labels: tuple[tuple[str, int], ...] = ()

    @property
    def label_map(self) -> dict[str, int]:
        return dict(self.labels)


def server_base_path(server: Server, model: ModelSpec, root: str) -> str:
    """Where the server finds the model, given where it sees the model root (`root`)."""
    if model.base_path is None:  # the default, <model_root>/<name>: a name is one component
        return str(PurePosixPath(root, model.name))
    host = server.base_path(model)
    try:  # lexical, like the check for a path inside the root it replaces (`parents` was slow)
        relative = host.relative_to(server.model_root)
    except ValueError:
        return str(host)  # outside the root: only a server that sees host paths is allowed this
    return str(PurePosixPath(root, *relative.parts))


def server_model_config_path(root: str) -> str:
    """The --model_config_file value: the model root is where tfsctl writes model.config."""
    return str(PurePosixPath(root) / MODEL_CONFIG_FILE)


def host_model_config_path(server: Server) -> Path:
    return server.model_root / MODEL_CONFIG_FILE


def desired_entries(server: Server, root: str) -> tuple[ModelEntry, ...]:
    """The model.config entries a server's spec asks for, in spec order, for a server that
    sees the model root at `root`."""
    return tuple(
        ModelEntry(
            name=model.name,
            base_path=server_base_path(server, model, root),
            platform=model.platform,
            policy=VersionPolicy.from_spec(model),
            labels=tuple(sorted(model.labels.items())),
        )
        for model in server.models
    )


def to_proto(entries: Iterable[ModelEntry]) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    for entry in entries:
        block = config.model_config_list.config.add()
        block.name = entry.name
        block.base_path = entry.base_path
        block.model_platform = entry.platform
        policy = block.model_version_policy
        if entry.policy.kind is PolicyKind.ALL:
            policy.all.SetInParent()
        elif entry.policy.kind is PolicyKind.SPECIFIC:
            policy.specific.versions.extend(entry.policy.specific)
        else:
            policy.latest.num_versions = entry.policy.latest
        for label, version in entry.labels:
            block.version_labels[label] = version
    return config


class ModelConfigError(ValueError):
    """A model.config that TensorFlow Serving would not accept either; `line` and `column`
    (1-based) say where, when the parser knows."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


CUSTOM_CONFIG_UNSUPPORTED = "custom_model_config is not supported; tfsctl manages model_config_list only"


def _policy_from_proto(block: model_server_config_pb2.ModelConfig) -> VersionPolicy:
    policy = block.model_version_policy
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy(PolicyKind.ALL, latest=0)
    if which == "specific":
        return VersionPolicy(PolicyKind.SPECIFIC, latest=0,
                             specific=tuple(sorted(policy.specific.versions)))
    if which == "latest":
        return VersionPolicy(PolicyKind.LATEST, latest=policy.latest.num_versions or 1)
    return VersionPolicy()


def from_proto(config: model_server_config_pb2.ModelServerConfig) -> tuple[ModelEntry, ...]:
    which = config.WhichOneof("config")
    if which == "custom_model_config":
        raise ModelConfigError(CUSTOM_CONFIG_UNSUPPORTED)
    entries = []
    for block in config.model_config_list.config:
        if block.model_type and not block.model_platform:
            platform = "tensorflow"  # the deprecated model_type enum has only TENSORFLOW
        else:
            platform = block.model_platform or "tensorflow"
        entries.append(ModelEntry(
            name=block.name,
            base_path=block.base_path,
            platform=platform,
            policy=_policy_from_proto(block),
            labels=tuple(sorted(block.version_labels.items())),
        ))
    return tuple(entries)


def _quoted(value: str) -> str:
    return '"' + text_encoding.CEscape(value, True) + '"'


def _policy_text(policy: VersionPolicy) -> str:
    if policy.kind is PolicyKind.ALL:
        return "      all {\n      }\n"
    if policy.kind is PolicyKind.SPECIFIC:
        return ("      specific {\n" + "".join(f"        versions: {v}\n" for v in policy.specific)
                + "      }\n")
    count = f"        num_versions: {policy.latest}\n" if policy.latest else ""
    return "      latest {\n" + count + "      }\n"


def _entry_text(entry: ModelEntry) -> str:
    """One `config { ... }` block: fields in field-number order, unset (empty) scalars left
    out and map entries by key, as protobuf's text printer writes them."""
    lines = ["  config {\n"]
    if entry.name:
        lines.append(f"    name: {_quoted(entry.name)}\n")
    if entry.base_path:
        lines.append(f"    base_path: {_quoted(entry.base_path)}\n")
    if entry.platform:
        lines.append(f"    model_platform: {_quoted(entry.platform)}\n")
    lines.append("    model_version_policy {\n" + _policy_text(entry.policy) + "    }\n")
    for label, version in sorted(dict(entry.labels).items()):
        key = f"      key: {_quoted(label)}\n" if label else ""
        value = f"      value: {version}\n" if version else ""
        lines.append("    version_labels {\n" + key + value + "    }\n")
    lines.append("  }\n")
    return "".join(lines)


def render_text(entries: Iterable[ModelEntry]) -> str:
    """model.config text in protobuf text format, as TF Serving reads it: byte for byte what
    `text_format.MessageToString(to_proto(entries))` prints (a property test holds it to
    that), written directly because protobuf's pure-Python printer is slow on big configs
    (a fifth of observing 1,000 models, where plan renders the desired config to recognise
    an unchanged file); strings are escaped by protobuf's own `CEscape`."""
    blocks = [_entry_text(entry) for entry in entries]
    return "model_config_list {\n" + "".join(blocks) + "}\n" if blocks else ""


def _first_field(text: str) -> str | None:
    """The name of the first top-level field of a text-format message (comments skipped)."""
    tokenizer = text_format.Tokenizer(text.splitlines())
    return None if tokenizer.AtEnd() else tokenizer.token


def parse_text(text: str) -> tuple[ModelEntry, ...]:
    """Parse model.config text; raises ModelConfigError with the line protobuf complained of.

    A custom_model_config is refused before parsing: its `Any` payload names a type of
    the server's own, which no descriptor pool here knows, so protobuf would fail on
    the type instead of saying what is unsupported."""
    if _first_field(text) == "custom_model_config":
        raise ModelConfigError(CUSTOM_CONFIG_UNSUPPORTED)
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        line, column = exc.GetLine(), exc.GetColumn()
        message = tf_serving_names(str(exc))
        if line is not None:
            message = re.sub(r"^\d+(?::\d+)? : ", "", message)
        raise ModelConfigError(message, line, column) from None
    except RecursionError:
        raise ModelConfigError("the file nests messages too deeply to parse") from None
    return from_proto(config)
