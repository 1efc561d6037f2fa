"""tfsctl's own TF Serving bindings (tfsctl/protos) against the official `tensorflow_serving`.

Every message tfsctl sends or reads is filled in completely (every field, each
choice of every oneof), encoded by one side and decoded by the other: the bytes
must come back identical and the text form must match, both ways. The field
tables are compared too, so that a field declared with the wrong number or type
fails even where the filled-in values would happen to encode alike. The official
modules import TensorFlow, so these tests are slow; they are skipped only where
the official package is not installed (the dev setup installs it, as a reference).
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from tfsctl.protos import model_server_config_pb2, model_service_pb2
from tfsctl.tfenv import import_tensorflow

pytestmark = pytest.mark.slow

official_config = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
import_tensorflow()  # the official apis modules import it; this keeps its banner quiet
official_management = pytest.importorskip("tensorflow_serving.apis.model_management_pb2")
official_status = pytest.importorskip("tensorflow_serving.apis.get_model_status_pb2")
official_predict = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
official_metadata = pytest.importorskip("tensorflow_serving.apis.get_model_metadata_pb2")
official_classification = pytest.importorskip("tensorflow_serving.apis.classification_pb2")
official_regression = pytest.importorskip("tensorflow_serving.apis.regression_pb2")
official_log = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
from tfsctl.protos import prediction_service_pb2 as serving  # noqa: E402 - imports TensorFlow

#: (tfsctl's message, the official one it stands for)
PAIRS = [
    (model_server_config_pb2.ModelServerConfig, official_config.ModelServerConfig),
    (model_service_pb2.ReloadConfigRequest, official_management.ReloadConfigRequest),
    (model_service_pb2.ReloadConfigResponse, official_management.ReloadConfigResponse),
    (model_service_pb2.GetModelStatusRequest, official_status.GetModelStatusRequest),
    (model_service_pb2.GetModelStatusResponse, official_status.GetModelStatusResponse),
    (serving.PredictRequest, official_predict.PredictRequest),
    (serving.PredictResponse, official_predict.PredictResponse),
    (serving.GetModelMetadataRequest, official_metadata.GetModelMetadataRequest),
    (serving.GetModelMetadataResponse, official_metadata.GetModelMetadataResponse),
    (serving.SignatureDefMap, official_metadata.SignatureDefMap),
    (serving.ClassificationRequest, official_classification.ClassificationRequest),
    (serving.ClassificationResponse, official_classification.ClassificationResponse),
    (serving.RegressionRequest, official_regression.RegressionRequest),
    (serving.RegressionResponse, official_regression.RegressionResponse),
    (serving.PredictionLog, official_log.PredictionLog),
]
#: TensorFlow's own messages nest deeply (a tensor of variants of tensors ...): below this
#: depth, message fields of theirs stay empty.
MAX_DEPTH = 4
#: Every oneof here has at most six choices (PredictionLog's): fillings 0-5 use each of them.
CHOICES = range(6)


def _scalar(field: FieldDescriptor, index: int) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = field.enum_type.values
        return values[(index + 1) % len(values)].number or values[-1].number
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{field.name}-{index}"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return bytes([index, 0xFF])
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 0.25 + index
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_UINT64):
        return 2**40 + index  # beyond 32 bits: a narrower type would not round-trip
    return 7 + index


def fill(message: Any, choice: int, depth: int = 0) -> Any:
    """Set every field of `message`; of each oneof, only choice number `choice` (modulo its size)."""
    descriptor: Descriptor = message.DESCRIPTOR
    if descriptor.full_name == "google.protobuf.Any":
        message.type_url = "type.googleapis.com/example.Payload"
        message.value = b"\x08\x01"
        return message
    chosen = {oneof.fields[choice % len(oneof.fields)].name for oneof in descriptor.oneofs
              if not oneof.name.startswith("_")}  # "_x": proto3 `optional`, always set
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_") and field.name not in chosen:
            continue
        if field.message_type is not None and depth >= MAX_DEPTH and \
                field.message_type.file.package == "tensorflow":
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for index in range(2):
                key = f"key-{index}"
                if value_field.message_type is not None:
                    fill(target[key], choice, depth + 1)
                else:
                    target[key] = _scalar(value_field, index)
        elif field.is_repeated:
            for index in range(2):
                if field.message_type is not None:
                    fill(target.add(), choice + index, depth + 1)
                else:
                    target.append(_scalar(field, index))
        elif field.message_type is not None:
            fill(target, choice, depth + 1)
            if not field.message_type.fields:
                target.SetInParent()  # an empty message (the `all {}` policy) is still present
        else:
            setattr(message, field.name, _scalar(field, depth))
    return message


def _fields(descriptor: Descriptor) -> dict[str, tuple[int, int, bool, str | None]]:
    return {f.name: (f.number, f.type, f.is_repeated,
                     f.containing_oneof.name if f.containing_oneof else None)
            for f in descriptor.fields}


def _compare_tables(ours: Descriptor, theirs: Descriptor, seen: set[str]) -> None:
    """Each field of ours exists in theirs with the same number, type, repetition and oneof;
    nested messages and enum values likewise."""
    if ours.full_name in seen or ours.full_name == theirs.full_name:
        return  # the same message (one of TensorFlow's) on both sides
    seen.add(ours.full_name)
    their_fields = _fields(theirs)
    for name, shape in _fields(ours).items():
        theirs_shape = their_fields.get(name)
        assert theirs_shape == shape, f"{ours.full_name}.{name}: {shape} vs {theirs_shape}"
        field, their_field = ours.fields_by_name[name], theirs.fields_by_name[name]
        if field.message_type is not None:
            _compare_tables(field.message_type, their_field.message_type, seen)
        if field.enum_type is not None:
            ours_values = {v.name: v.number for v in field.enum_type.values}
            theirs_values = {v.name: v.number for v in their_field.enum_type.values}
            assert ours_values.items() <= theirs_values.items(), field.full_name


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_field_tables_match(ours: Any, theirs: Any) -> None:
    _compare_tables(ours.DESCRIPTOR, theirs.DESCRIPTOR, set())


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_round_trips_byte_identically(ours: Any, theirs: Any, choice: int) -> None:
    mine = fill(ours(), choice)
    encoded = mine.SerializeToString(deterministic=True)
    assert encoded  # (PredictionLog's opaque choices encode as their tag and an empty body)
    official = theirs.FromString(encoded)
    assert official.SerializeToString(deterministic=True) == encoded
    assert text_format.MessageToString(official) == text_format.MessageToString(mine)
    # and back: what the official side encodes, tfsctl decodes to the same message
    assert ours.FromString(official.SerializeToString(deterministic=True)) == mine


@pytest.mark.parametrize("choice", CHOICES)
def test_official_text_parses_into_ours(choice: int) -> None:
    """model.config written by hand (the official text form) reads the same into tfsctl's type."""
    official = fill(official_config.ModelServerConfig(), choice)
    text = text_format.MessageToString(official)
    mine = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    assert mine.SerializeToString(deterministic=True) == official.SerializeToString(deterministic=True)


def test_fill_sets_every_field() -> None:
    """The filler above leaves nothing out (else a mismatch could hide in an empty field)."""
    config = fill(model_server_config_pb2.ModelServerConfig(), 0)
    block = config.model_config_list.config[0]
    assert {f.name for f, _ in block.ListFields()} == set(block.DESCRIPTOR.fields_by_name)
    assert block.logging_config.sampling_config.per_task_sampling_configs[1].HasField("task_index")
