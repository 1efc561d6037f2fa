"""JSON values as TF Serving's REST API reads them: the request object (strict UTF-8, no
lone surrogates), the names and quoting its error messages use, and base64 strings.

Shared by the predict (requests.py) and classify/regress (examples.py) parsers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tfsctl.servingapi.status import ServingError, invalid

# A \uD800-\uDFFF escape: the only way a JSON text can carry a lone surrogate
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_TOO_BIG = "JSON Parse error: Number too big to be stored in double"



def debug(value: Any) -> str:
    """The JSON text of a value as TF Serving quotes it in errors (cut at 256 bytes)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)[:256]


def type_name(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    names: dict[type, str] = {dict: "Object", list: "Array", str: "String"}
    return names.get(type(value), "Number")


def format_error(doc: Any, message: str) -> ServingError:
    return invalid(f"JSON Value: {debug(doc)} {message}")


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def b64decode(value: Any) -> bytes:
    if not is_b64(value):
        raise invalid(f"JSON Value: {debug(value)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise invalid("Unable to base64 decode") from None


def parse_json(body: bytes) -> dict[str, Any]:
    """The request's JSON object. As rapidjson in TF Serving, invalid UTF-8 and lone
    surrogates are parse errors (a str holding one could not be written back or put in a
    proto); so is nesting deeper than Python's recursion allows."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"JSON Parse error: {exc}") from None
    except RecursionError:
        raise invalid("JSON Parse error: nested too deeply") from None
    if _SURROGATE_ESCAPE.search(body) and not _encodable(doc):
        raise invalid("JSON Parse error: The surrogate pair in string is invalid.")
    if not isinstance(doc, dict):
        raise format_error(doc, "Is not object")
    return doc


def _encodable(doc: Any) -> bool:
    """Whether every string (keys too) of a parsed document has a UTF-8 form."""
    pending = [doc]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def signature_name(doc: dict[str, Any]) -> str:
    value = doc.get("signature_name", "")
    if not isinstance(value, str):
        raise invalid(f"JSON Value: {debug(doc)} not formatted correctly. 'signature_name' key "
                      "must be a string value.")
    return value


def double(value: int) -> float:
    """A JSON integer as the double rapidjson reads; beyond any double it refuses to parse."""
    try:
        return float(value)
    except OverflowError:
        raise invalid(_TOO_BIG) from None
