"""The handler contract: loading, its optional hooks, and the errors that name file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tfsctl.gateway.handler import HandlerLoadError, Target, load_handler

GOOD = """
import json
calls = []
MODELS = {"a": {"version": 3}, "b": {"label": "stable", "signature": "other"}}

def setup():
    calls.append("setup")

def preprocess(payload):
    return {"a": {"x": payload["x"]}}

def postprocess(payload, outputs):
    return {"calls": calls}
"""


def write(tmp_path: Path, text: str, name: str = "handler.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_handler_loads_with_its_hooks(tmp_path: Path) -> None:
    handler = load_handler(write(tmp_path, GOOD))
    assert handler.postprocess({}, {}) == {"calls": ["setup"]}  # setup ran, once
    assert handler.target("a") == Target(version=3)
    assert handler.target("b") == Target(label="stable", signature="other")
    assert handler.target("c") == Target()


def test_a_handler_imports_its_sibling_modules(tmp_path: Path) -> None:
    write(tmp_path, "WORDS = {'hi': 1}\n", "vocab_helper.py")
    handler = load_handler(write(tmp_path, "from vocab_helper import WORDS\n"
                                           "def preprocess(p): return {'m': {'x': WORDS[p]}}\n"
                                           "def postprocess(p, o): return o\n"))
    assert handler.preprocess("hi") == {"m": {"x": 1}}


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "def preprocess(payload):\n    return {\n\ndef postprocess(:\n")
    with pytest.raises(HandlerLoadError, match=rf"^{path}:\d+: SyntaxError"):
        load_handler(path)


def test_a_failing_import_names_module_line_and_cause(tmp_path: Path) -> None:
    path = write(tmp_path, "import json\n\nimport no_such_module_here\n")
    with pytest.raises(HandlerLoadError) as caught:
        load_handler(path)
    assert str(caught.value) == (f"{path}:3: importing module 'handler' failed: "
                                 "ModuleNotFoundError: No module named 'no_such_module_here'")


def test_a_failing_setup_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "def setup():\n    open('/no/such/vocab.txt')\n"
                           "def preprocess(p): pass\ndef postprocess(p, o): pass\n")
    with pytest.raises(HandlerLoadError, match=rf"^{path}:2: setup\(\) failed: FileNotFoundError"):
        load_handler(path)


@pytest.mark.parametrize(("text", "message"), [
    ("def postprocess(p, o): pass\n", "defines no preprocess(payload)"),
    ("def preprocess(p): pass\n", "defines no postprocess(payload, outputs)"),
    ("def preprocess(p): pass\ndef postprocess(p, o): pass\nMODELS = {'a': {'version': 1, "
     "'label': 'x'}}\n", "takes `version` or `label`"),
])
def test_the_contract_is_checked(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HandlerLoadError, match=re.escape(message)):
        load_handler(write(tmp_path, text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HandlerLoadError, match="no such handler file"):
        load_handler(tmp_path / "nope.py")
