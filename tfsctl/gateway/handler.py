"""Loading the user's handler module, and the contract it must keep.

A handler is a Python file with

* `preprocess(payload) -> {model_name: {input_name: array_like}}`: which models to call,
  with which inputs (numpy arrays, nested lists or scalars);
* `postprocess(payload, outputs) -> JSON-able`, `outputs` being
  `{model_name: {output_name: numpy.ndarray}}`;

and, optionally,

* `setup()`: called once before the gateway serves (load a vocabulary, a tokenizer);
* `MODELS = {model_name: {"version": N} | {"label": "stable"}, "signature": "name"}`:
  which version, label or signature each model is asked for (default: the server's
  choice and `serving_default`); the models named here are also the ones the
  gateway's readiness waits for.

A handler that cannot be loaded is refused with its file and line, so that apply can say
what to fix while the previous gateway keeps serving.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

DEFAULT_SIGNATURE = "serving_default"


class HandlerLoadError(Exception):
    """The handler cannot be imported or does not keep the contract; the message names the
    file and line."""


@dataclass(frozen=True)
class Target:
    """Which version or label, and which signature, of a model the gateway asks."""

    version: int | None = None
    label: str | None = None
    signature: str = DEFAULT_SIGNATURE


@dataclass(frozen=True)
class Handler:
    path: Path
    preprocess: Callable[[Any], Mapping[str, Mapping[str, Any]]]
    postprocess: Callable[[Any, dict[str, dict[str, Any]]], Any]
    targets: Mapping[str, Target] = field(default_factory=dict)

    def target(self, model: str) -> Target:
        return self.targets.get(model, Target())


def _handler_line(path: Path, tb: TracebackType | None) -> int | None:
    """The last line of the handler file in a traceback (where its own code failed)."""
    line = None
    for frame in traceback.extract_tb(tb):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    return line


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise HandlerLoadError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the handler may import its sibling modules
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise HandlerLoadError(f"{exc.filename or path}:{exc.lineno}: SyntaxError: {exc.msg}"
                               ) from None
    except Exception as exc:  # noqa: BLE001 - any failure of the user's import is reported
        line = _handler_line(path, exc.__traceback__)
        raise HandlerLoadError(f"{path}:{line or 1}: importing module {path.stem!r} failed: "
                               f"{type(exc).__name__}: {exc}") from None
    return module


def _targets(path: Path, value: Any) -> dict[str, Target]:
    if not isinstance(value, Mapping):
        raise HandlerLoadError(f"{path}: MODELS must be a dict of model name -> options")
    found = {}
    for name, options in value.items():
        options = dict(options or {})
        unknown = set(options) - {"version", "label", "signature"}
        if unknown or ("version" in options and "label" in options):
            raise HandlerLoadError(f"{path}: MODELS[{name!r}] takes `version` or `label`, and "
                                   "`signature`")
        found[str(name)] = Target(options.get("version"), options.get("label"),
                                  str(options.get("signature", DEFAULT_SIGNATURE)))
    return found


def load_handler(path: Path) -> Handler:
    """Import the handler at `path`, check its contract and run its `setup()`."""
    if not path.is_file():
        raise HandlerLoadError(f"{path}: no such handler file")
    module = _import(path)
    for name, arity in (("preprocess", "payload"), ("postprocess", "payload, outputs")):
        if not callable(getattr(module, name, None)):
            raise HandlerLoadError(f"{path}: the handler defines no {name}({arity})")
    setup = getattr(module, "setup", None)
    if callable(setup):
        try:
            setup()
        except Exception as exc:  # noqa: BLE001 - the user's setup, reported with its line
            line = _handler_line(path, exc.__traceback__)
            raise HandlerLoadError(f"{path}:{line or 1}: setup() failed: "
                                   f"{type(exc).__name__}: {exc}") from None
    return Handler(path, module.preprocess, module.postprocess,
                   _targets(path, getattr(module, "MODELS", {})))
