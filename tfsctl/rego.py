"""Policies as code: Rego rules over the JSON plan, the way conftest runs them.

A team's rules about deployments (no destroy in prod, smoke requests for every
labelled model, no downtime in prod) are written in Rego, the Open Policy
Agent's language, following conftest's convention so existing policies and
habits carry over:

- every `*.rego` file under the policy directories is loaded (`*_test.rego`
  files are conftest's unit tests and are skipped);
- rules live in `package main`; `input` is the plan as `tfsctl plan --json`
  prints it (docs/plan-json.md);
- rules named `deny`, `violation` or starting with `deny_`/`violation_` fail the
  plan; `warn`/`warn_*` rules are printed. Each produces a set of messages:
  strings, or objects with a `msg` field.

The engine is regopy (rego-cpp, in-process; no `opa` binary, no server), an
optional dependency: `pip install 'tfsctl[policy]'`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tfsctl.errors import TfsctlError
from tfsctl.plan.model import PolicyFinding, PolicyLevel

_INSTALL = "install the policy engine: pip install 'tfsctl[policy]' (it brings regopy)"
_LEVELS = (("deny", PolicyLevel.DENY), ("violation", PolicyLevel.DENY), ("warn", PolicyLevel.WARN))


def policy_files(directories: Iterable[Path]) -> list[Path]:
    """The `.rego` files to load, in a stable order; a missing directory is an error."""
    files: list[Path] = []
    for directory in directories:
        if directory.is_file() and directory.suffix == ".rego":
            files.append(directory)
            continue
        if not directory.is_dir():
            raise TfsctlError(f"policy directory {directory} does not exist",
                              "pass a directory of .rego files, e.g. --policy policies/")
        found = sorted(p for p in directory.rglob("*.rego") if not p.name.endswith("_test.rego"))
        if not found:
            raise TfsctlError(f"policy directory {directory} holds no .rego files",
                              "write rules in package main, e.g. deny contains msg if { ... }")
        files += found
    return files


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """rego-cpp prints its compile errors to the process's stdout (file descriptor 1), which
    would corrupt `plan --json`; they are caught here and become the error message."""
    captured: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))


def _compile_error(printed: str, error: Exception) -> str:
    """`file:line:col: message` lines from rego-cpp's report, or its raw error."""
    found = re.findall(r"^(?!--)(.+)\n-- (\S+:\d+:\d+)$", printed, re.MULTILINE)
    if found:
        return "; ".join(f"{where}: {message.strip()}" for message, where in found)
    return " ".join(str(error).split())[:500]


def _messages(value: Any) -> list[str]:
    """A rule's value as messages: a set (list) or v0-style object of strings or {msg: ...}."""
    items = list(value.keys()) if isinstance(value, Mapping) else \
        value if isinstance(value, list) else [value]
    messages = []
    for item in items:
        if isinstance(item, Mapping) and "msg" in item:
            item = item["msg"]
        messages.append(item if isinstance(item, str) else json.dumps(item, sort_keys=True))
    return messages


def _level(rule: str) -> PolicyLevel | None:
    for prefix, level in _LEVELS:
        if rule == prefix or rule.startswith(prefix + "_"):
            return level
    return None


def evaluate(directories: Iterable[Path], plan_json: Mapping[str, Any]) -> tuple[PolicyFinding, ...]:
    """Every deny and warn message the policies give for the plan, denials first."""
    files = policy_files(directories)
    try:
        import regopy
    except ImportError:
        raise TfsctlError("--policy needs a Rego engine, and regopy is not installed",
                          _INSTALL) from None
    interpreter = regopy.Interpreter()
    with _captured_stdout() as printed:
        try:
            for path in files:
                interpreter.add_module(str(path), path.read_text(encoding="utf-8"))
            interpreter.set_input(dict(plan_json))
            output = interpreter.query("data.main")
        except regopy.RegoError as exc:
            error: Exception | None = exc
        except ValueError:  # regopy could not parse the engine's own JSON
            raise TfsctlError("the policy engine gave a result it cannot read back",
                              "in messages, format computed strings with %v, not %s (rego-cpp "
                              "quotes them without escaping)") from None
        else:
            error = None
    if error is not None:
        raise TfsctlError(f"the policies do not compile: {_compile_error(''.join(printed), error)}",
                          "fix the Rego (conftest's rules: package main, deny/warn rules)")
    text = str(output)
    results = (json.loads(text).get("expressions") or [{}]) if text != "undefined" else [{}]
    document = results[0] if isinstance(results[0], Mapping) else {}
    findings = [PolicyFinding(level, rule, message)
                for rule, value in sorted(document.items())
                for level in [_level(rule)] if level is not None
                for message in sorted(_messages(value))]
    return tuple(sorted(findings, key=lambda f: f.level is not PolicyLevel.DENY))
