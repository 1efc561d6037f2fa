"""Variables in a spec: `{{ name }}` in any string, rendered by Jinja2.

Rendering happens on parsed YAML values, one string at a time, not on the file's
text: line numbers stay exact, and a value can never break the YAML around it.
A string that is exactly one expression (`"{{ ports.rest }}"`) keeps the
variable's type, so a port stays a number. Undefined names are errors
(StrictUndefined), never empty strings, and templates run sandboxed: a spec
cannot reach Python internals through a template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tfsctl.spec.errors import SpecIssue
from tfsctl.spec.yamlsource import PathKey, YamlDocument

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}$", re.DOTALL)
_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                     keep_trailing_newline=True)


def _render_string(text: str, variables: Mapping[str, Any]) -> Any:
    single = _SINGLE_EXPRESSION.match(text.strip())
    if single:
        value = _ENV.compile_expression(single["expr"], undefined_to_none=False)(**variables)
        if isinstance(value, jinja2.Undefined):
            str(value)  # raises UndefinedError with the variable's name
        return value
    return _ENV.from_string(text).render(**variables)


def render_templates(doc: YamlDocument, data: Any, variables: Mapping[str, Any],
                     path: PathKey = ()) -> tuple[Any, list[SpecIssue]]:
    """A copy of `data` with every templated string rendered, plus the problems found."""
    issues: list[SpecIssue] = []

    def visit(value: Any, at: PathKey) -> Any:
        if isinstance(value, dict):
            return {key: visit(item, at + (key,)) for key, item in value.items()}
        if isinstance(value, list):
            return [visit(item, at + (i,)) for i, item in enumerate(value)]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        try:
            return _render_string(value, variables)
        except jinja2.UndefinedError as exc:
            issues.append(SpecIssue(doc.locate(at), f"undefined variable: {exc.message}",
                                    "define it under `variables:` (or the environment's "
                                    "`variables:`), or pass --var NAME=VALUE"))
        except jinja2.TemplateSyntaxError as exc:
            issues.append(SpecIssue(doc.locate(at), f"template syntax error: {exc.message}",
                                    "write variables as {{ name }}"))
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            issues.append(SpecIssue(doc.locate(at), f"template failed: {exc}",
                                    "check the expression and the variables it uses"))
        return value

    return visit(data, path), issues
