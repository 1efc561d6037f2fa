"""Where a version is exported from when its directory is missing: an existing
SavedModel, a TF1 checkpoint with named input and output tensors, or a Keras file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Discriminator, Field, Tag, ValidationInfo, field_validator

from tfsctl.spec.base import Strict
from tfsctl.spec.fields import SpecPath, absolute, base_dir


class SavedModelSource(Strict):
    """Copy an existing SavedModel directory (the one holding saved_model.pb)."""

    saved_model: SpecPath = Field(description="Directory with saved_model.pb and variables/.")
    signatures: list[str] = Field(
        default_factory=list,
        description="Signature names the SavedModel must have; checked before it is copied.")

    @field_validator("saved_model")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return absolute(value, base_dir(info))


class CheckpointSource(Strict):
    """Convert a TF1 checkpoint (meta graph + variables) into a SavedModel.

    The classic "checkpoint to servable" conversion: import the meta graph,
    restore the variables, and save with a predict signature built from the
    named input and output tensors.
    """

    checkpoint: SpecPath = Field(description="Checkpoint prefix (e.g. model.ckpt-1000) or a "
                                         "directory holding a `checkpoint` index file.")
    meta_graph: SpecPath | None = Field(default=None,
                                    description="The .meta file; default: <checkpoint>.meta.")
    inputs: dict[str, str] = Field(min_length=1, description="Signature input key -> tensor name "
                                   "(e.g. x: 'x:0'), or operation name ('x': its first output).")
    outputs: dict[str, str] = Field(min_length=1, description="Signature output key -> tensor "
                                    "name (e.g. y: 'y:0'), or operation name ('y': its first "
                                    "output).")
    signature_name: str = Field(default="serving_default",
                                description="Name of the predict signature to write.")

    @field_validator("checkpoint", "meta_graph")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else absolute(value, base_dir(info))

    @field_validator("inputs", "outputs")
    @classmethod
    def _tensor_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, tensor in value.items():
            if not re.match(r"^[A-Za-z0-9_.\-/]+(:\d+)?$", tensor):
                raise ValueError(f"{key}: {tensor!r} is not a tensor name like 'x:0'")
        return value


class KerasSource(Strict):
    """Export a Keras model file (.keras or .h5) as a SavedModel."""

    keras: SpecPath = Field(description="A .keras or .h5 model file.")

    @field_validator("keras")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return absolute(value, base_dir(info))


def _source_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {SavedModelSource: "saved_model", CheckpointSource: "checkpoint",
                KerasSource: "keras"}.get(type(value))
    if isinstance(value, dict):
        kinds = [k for k in ("saved_model", "checkpoint", "keras") if k in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


Source = Annotated[
    Annotated[SavedModelSource, Tag("saved_model")]
    | Annotated[CheckpointSource, Tag("checkpoint")]
    | Annotated[KerasSource, Tag("keras")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a source needs exactly one of `saved_model:`, `checkpoint:` "
                             "or `keras:`",
    ),
]


class VersionSpec(Strict):
    """One version of a model. Without a source, its directory must already exist."""

    source: Source | None = Field(default=None, description="Where to export this version "
                                                             "from when its directory is missing.")
