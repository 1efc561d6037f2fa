"""Large numeric predict requests read straight into the tensor's buffer.

`json.loads` makes a Python float (24 bytes, plus 8 in its list) of every value of
`{"instances": [...]}`, and the tensor is built from those: a 64 MB body of 16 million
values held about 1.8 GB before the model ran. For the request that is most of the
traffic of a large predict (one float or double input, its values one dense JSON array
under `instances` or `inputs`) the array's text is parsed by numpy into the tensor
instead, and only the rest of the document goes through `json.loads`.

The array is read only when it is certainly valid JSON and dense: its brackets and
commas must be exactly those of the shape read from its first elements, every value a
JSON number (no `.5`, `1.`, `+1`, `01`, `NaN`), and the count of values that shape's.
Anything else (other dtypes, ragged or malformed arrays, several inputs) returns None,
and the request takes the ordinary path, with TF Serving's exact messages.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfsctl.servingapi.limits import MAX_RANK, RequestLimits

#: Bodies smaller than this take the ordinary path: nothing to save.
MIN_BODY = 16 << 10
_FLOATS = {1: np.float32, 2: np.float64}  # DT_FLOAT, DT_DOUBLE
_START = re.compile(rb'\s*\{\s*(?:"signature_name"\s*:\s*"[^"\\]*"\s*,\s*)?"(instances|inputs)"\s*:\s*'
                    rb'(\{\s*"[^"\\]*"\s*:\s*)?\[')
_ARRAY = re.compile(rb"[\[\]0-9,.eE+\- \t\r\n]*")
_SPACE = b" \t\r\n"
_IS_NUMBER = np.zeros(256, dtype=bool)
_IS_NUMBER[list(b"0123456789.eE+-")] = True
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[list(_SPACE)] = True
_TO_SPACE = bytes.maketrans(b"[]", b"  ")
_CHUNK = 1 << 18


@dataclass(frozen=True)
class BulkArray:
    """The numeric array found in a body: its text and the placeholder that stands for it
    in the rest of the document."""

    text: bytes
    token: str

    def tensor(self, dtype: int, limits: RequestLimits) -> np.ndarray | None:
        """The array as a tensor of `dtype`, or None when it must take the ordinary path."""
        numpy_type = _FLOATS.get(dtype)
        if numpy_type is None:
            return None
        shape = _dense_shape(self.text)
        if shape is None:
            return None
        limits.check_tensors([("", shape, np.dtype(numpy_type).itemsize)])
        try:
            values = np.fromstring(self.text.translate(_TO_SPACE), dtype=numpy_type, sep=",")
        except ValueError:
            return None
        if values.size != math.prod(shape):
            return None
        return values.reshape(shape)


def find(body: bytes) -> tuple[str, BulkArray] | None:
    """(the document without the array, with a placeholder string in its place; the array),
    or None when the body does not start like a large numeric predict."""
    if len(body) < MIN_BODY:
        return None
    start = _START.match(body)
    if start is None:
        return None
    begin = start.end() - 1
    array = _ARRAY.match(body, begin)
    end = array.end() if array else begin
    while end > begin and body[end - 1] in b", \t\r\n":
        end -= 1
    if body[end - 1:end] != b"]":
        return None
    token = "tfsctl-bulk-" + uuid.uuid4().hex
    try:
        rest = body[:begin].decode() + json.dumps(token) + body[end:].decode()
    except UnicodeDecodeError:
        return None
    return rest, BulkArray(body[begin:end], token)


def _dense_shape(text: bytes) -> list[int] | None:
    """The array's shape when it is dense and every value a JSON number, else None."""
    tokens = _tokens(text)
    shape = _shape(tokens) if tokens is not None else None
    return shape if shape is not None and _skeleton(shape) == tokens else None


def _shape(skeleton: bytes) -> list[int] | None:
    """The dense shape the first elements declare (`skeleton`: see _tokens): each level's
    length is one more than the separators of its first list."""
    rank = len(skeleton) - len(skeleton.lstrip(b"["))
    if not 0 < rank <= MAX_RANK:
        return None
    shape = []
    for level in range(rank):
        inner = rank - level - 1
        end = skeleton.find(b"]" * (inner + 1), level)
        if end < 0:
            return None
        separator = b"]" * inner + b"," + b"[" * inner
        shape.append(skeleton.count(separator, level, end) + 1)
    return shape


def _skeleton(shape: list[int]) -> bytes:
    inner = b"n"
    for size in reversed(shape):
        inner = b"[" + (inner + b",") * (size - 1) + inner + b"]"
    return inner


def _tokens(text: bytes) -> bytes | None:
    """The array's structure with every number as `n` (`[[1.5, 2], [3, 4]]` ->
    `[[n,n],[n,n]]`), or None when a number breaks JSON's grammar (what strtod reads
    beyond it, `.5`, `1.`, `+1`, `01`, is refused). Read in slices to bound memory."""
    pieces = []
    for start in range(0, len(text), _CHUNK):
        window = np.frombuffer(text[max(0, start - 2):start + _CHUNK + 1], dtype=np.uint8)
        low = min(start, 2)
        high = low + min(_CHUNK, len(text) - start)
        piece = _slice_tokens(window, low, high)
        if piece is None:
            return None
        pieces.append(piece)
    return b"".join(pieces)


def _slice_tokens(b: np.ndarray, low: int, high: int) -> bytes | None:
    """_tokens of b[low:high]; the bytes around it are context (neighbours of its ends)."""
    def shifted(values: np.ndarray, by: int, fill: Any) -> np.ndarray:
        out = np.empty_like(values)
        if by > 0:
            out[:by], out[by:] = fill, values[:-by]
        else:
            out[by:], out[:by] = fill, values[-by:]
        return out

    digit = (b >= 0x30) & (b <= 0x39)
    number = _IS_NUMBER[b]
    prev, after = shifted(b, 1, 0x20), shifted(b, -1, 0x20)
    prev_digit, next_digit = shifted(digit, 1, False), shifted(digit, -1, False)
    exp_prev = (prev == ord("e")) | (prev == ord("E"))
    sign_next = (after == ord("+")) | (after == ord("-"))
    opens = ~shifted(number, 1, False)  # the previous byte is no part of a number
    bad = (b == ord(".")) & ~(prev_digit & next_digit)
    bad |= ((b == ord("e")) | (b == ord("E"))) & ~(prev_digit & (next_digit | sign_next))
    bad |= (b == ord("+")) & ~(exp_prev & next_digit)
    bad |= (b == ord("-")) & ~((opens | exp_prev) & next_digit)
    leading = opens | ((prev == ord("-")) & shifted(opens, 1, True))
    bad |= (b == ord("0")) & leading & next_digit
    if bad[low:high].any():
        return None
    first = number & opens
    keep = (first | ~(number | _IS_SPACE[b]))[low:high]
    out = b[low:high][keep]
    out[first[low:high][keep]] = ord("n")
    return out.tobytes()


def _placeholder_at(doc: Any, token: str) -> bool:
    return isinstance(doc, str) and doc == token


def located(doc: dict[str, Any], bulk: BulkArray) -> tuple[str, str | None] | None:
    """Where the placeholder is: ("instances" | "inputs", the input's name or None), or
    None when it is anywhere else (then the whole body is parsed as usual)."""
    for key in ("instances", "inputs"):
        value = doc.get(key)
        if _placeholder_at(value, bulk.token):
            return key, None
        if key == "inputs" and isinstance(value, dict) and len(value) == 1:
            name, inner = next(iter(value.items()))
            if _placeholder_at(inner, bulk.token):
                return key, name
    return None


def predict_inputs(doc: dict[str, Any], bulk: BulkArray, dtypes: Mapping[str, int],
                   limits: RequestLimits) -> tuple[dict[str, np.ndarray], bool] | None:
    """(inputs by alias, whether the row format was used), as parse_predict would read the
    whole document, or None when the array must take the ordinary path."""
    if len(dtypes) != 1 or ("instances" in doc and "inputs" in doc):
        return None
    where = located(doc, bulk)
    if where is None:
        return None
    key, name = where
    alias, dtype = next(iter(dtypes.items()))
    if name is not None and name != alias:
        return None
    tensor = bulk.tensor(dtype, limits)
    return None if tensor is None else ({alias: tensor}, key == "instances")
