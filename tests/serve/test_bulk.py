"""Large REST predicts read straight into the tensor and answered a slice at a time
(issue 24: a 4M-value predict grew the server by 544 MB, 16M by 1.8 GB). In-process:
what the ordinary path and the bulk path read must be the same tensors, errors must be
TF Serving's (the bulk path declines anything it is not sure of), and what reading and
writing hold is bounded by the body's size, measured with tracemalloc (numpy reports its
buffers to it), never timed."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tfsctl.serve.answers import format_predict
from tfsctl.servingapi import bulk
from tfsctl.servingapi.jsonvalues import parse_json
from tfsctl.servingapi.limits import RequestLimits
from tfsctl.servingapi.requests import parse_predict
from tfsctl.servingapi.status import ServingError

FLOAT, DOUBLE = 1, 2
PAD = " " * bulk.MIN_BODY


def _both(body: bytes, dtypes: dict[str, int]) -> tuple[Any, Any]:
    """(what the bulk path reads, or None when it declines; what the ordinary path reads)."""
    def ordinary() -> Any:
        try:
            return parse_predict(parse_json(body), dtypes, "", RequestLimits())
        except ServingError as exc:
            return exc.message

    found = bulk.find(body)
    fast = None
    if found is not None:
        try:
            doc = parse_json(found[0].encode())
        except ServingError:  # the server then parses the whole body (rest._document)
            return None, ordinary()
        fast = bulk.predict_inputs(doc, found[1], dtypes, RequestLimits())
    return fast, ordinary()


def _same(fast: Any, slow: Any) -> bool:
    inputs, row = fast
    return row == slow[1] and inputs.keys() == slow[0].keys() and all(
        inputs[k].dtype == slow[0][k].dtype and inputs[k].shape == slow[0][k].shape
        and np.array_equal(inputs[k], slow[0][k], equal_nan=True) for k in inputs)


@pytest.mark.parametrize("text", [
    '{"instances": [1.5, 2, -3e2, 0, -0.0, 1E+3, 1e-05]}',
    '{"inputs": [[1.5], [2], [3]]}',
    '{"inputs": {"x": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}}',
    '{"signature_name": "", "instances": [[1, 2], [3, 4]]}',
    '{"instances": [1e39, -1e39, 3.4028235e38]}',
])
@pytest.mark.parametrize("dtype", [FLOAT, DOUBLE])
def test_the_bulk_path_reads_what_the_ordinary_path_reads(text: str, dtype: int) -> None:
    fast, slow = _both((text[:-1] + PAD + "}").encode(), {"x": dtype})
    assert fast is not None and _same(fast, slow)


@pytest.mark.parametrize("array", [
    "[1,,2]", "[.5]", "[1.]", "[+1]", "[01]", "[-01]", "[1,]", "[,1]", "[1 2]", "[-]", "[1e]",
    "[1e+]", "[]", "[[]]", "[1-2]", "[--1]", "[1.2.3]", "[1e5e5]", "[[1], [2, 3]]",
    "[[1, 2], [3]]", "[[1], 2]", "[1, [2]]", "[1]]", "[[1]", "[NaN]", "[Infinity]",
    '[1, "2"]', "[true]", "[null]", '[{"x": 1}]',
])
def test_what_the_bulk_path_declines_gets_tf_servings_answer(array: str) -> None:
    fast, slow = _both(('{"instances": ' + array + PAD + "}").encode(), {"x": FLOAT})
    assert fast is None, (array, slow)


@pytest.mark.parametrize("text", [
    '{"instances": [1, 2], "instances": [3]}',  # the last one counts, as in json.loads
    '{"instances": [1, 2], "inputs": [3]}',
    '{"instances": [1, 2], "x": }',
])
def test_documents_around_the_array_are_read_whole(text: str) -> None:
    body = (text[:-1] + PAD + "}").encode()
    fast, slow = _both(body, {"x": FLOAT})
    assert fast is None or _same(fast, slow)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1,
                max_size=50), st.sampled_from([1, 2, 5]), st.sampled_from([", ", ",", " , "]))
def test_generated_arrays_read_the_same(values: list[float], width: int, comma: str) -> None:
    rows = [values[i:i + width] for i in range(0, len(values) - len(values) % width, width)]
    if not rows:
        return
    text = "[" + comma.join("[" + comma.join(repr(v) for v in row) + "]" for row in rows) + "]"
    fast, slow = _both(('{"instances": ' + text + PAD + "}").encode(), {"x": FLOAT})
    assert fast is not None and _same(fast, slow)


def _peak(action: Any) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_reading_a_large_predict_holds_a_few_times_its_body() -> None:
    """1M values: the ordinary path held a Python float per value (about 30x the body)."""
    body = ('{"instances": [' + ", ".join(["2.5", "1.0", "3.5", "0.5"] * 250_000) + "]}").encode()

    def read() -> None:
        found = bulk.find(body)
        assert found is not None
        assert bulk.predict_inputs(json.loads(found[0]), found[1], {"x": FLOAT},
                                   RequestLimits()) is not None

    assert _peak(read) <= 4 * len(body)


def test_writing_a_large_answer_holds_a_few_times_its_text() -> None:
    """The answer was a Python string per value, and a list per row, before being joined."""
    outputs = {"y": np.resize(np.array([2.5, 1.0, 3.5, 0.5], dtype=np.float32), 1_000_000)}
    size = len(format_predict(outputs, True))
    assert _peak(lambda: format_predict(outputs, True)) <= 3 * size
