"""TF Serving's JSON for classify and regress: `examples` (and an optional `context`)
turned into tf.Example protos by JSON type, with TF Serving's messages."""

from __future__ import annotations

from typing import Any

from tfsctl.servingapi.jsonvalues import b64decode, double, format_error, is_b64, type_name
from tfsctl.servingapi.status import invalid

_KINDS = {"int64_list": "int64", "float_list": "float", "bytes_list": "bytes"}


def _add_feature_value(value: Any, name: str, feature: Any) -> None:
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_b64(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {type_name(value)}")
    item: int | float | bytes
    if isinstance(value, bool):
        kind, item = "int64_list", int(value)
    elif isinstance(value, dict):
        kind, item = "bytes_list", b64decode(value)
    elif isinstance(value, str):
        kind, item = "bytes_list", value.encode()
    elif isinstance(value, float):
        kind, item = "float_list", value
    elif -(2 ** 63) <= value < 2 ** 63:
        kind, item = "int64_list", value
    elif 0 < value < 2 ** 64:
        raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
    else:
        kind, item = "float_list", double(value)  # rapidjson reads it as a double
    current = feature.WhichOneof("kind")
    if current not in (None, kind):
        raise invalid(f"Unexpected element type in feature: {name} expecting type: "
                      f"{_KINDS[current]}")
    getattr(feature, kind).value.append(item)


def _example(value: Any, example: Any) -> None:
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {type_name(value)}")
    for name, content in value.items():
        feature = example.features.feature[name]
        feature.Clear()
        for item in content if isinstance(content, list) else [content]:
            _add_feature_value(item, name, feature)


def parse_examples(doc: dict[str, Any], request_input: Any) -> None:
    """Fill a tensorflow.serving.Input from `examples` (and `context`), as TF Serving does."""
    with_context = "context" in doc
    if with_context:
        _example(doc["context"], request_input.example_list_with_context.context)
    examples = doc.get("examples")
    if "examples" not in doc:
        raise format_error(doc, "When method is classify, key 'examples' is expected and was not "
                                 "found")
    if not isinstance(examples, list):
        raise format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error(doc, "'examples' value is an empty array")
    target = (request_input.example_list_with_context.examples if with_context
              else request_input.example_list.examples)
    for value in examples:
        _example(value, target.add())
