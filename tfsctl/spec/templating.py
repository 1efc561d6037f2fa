"""Variables in a spec: `{{ name }}` in any string, rendered by Jinja2.

Rendering happens on parsed YAML values, one string at a time, not on the file's
text: line numbers stay exact, and a value can never break the YAML around it.
A string that is exactly one expression (`"{{ ports.rest }}"`) keeps the
variable's type, so a port stays a number. What a template may do, and the
sandbox that enforces it, is in sandbox.py, imported on the first templated
string only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfsctl.spec.errors import SpecIssue
from tfsctl.spec.yamlsource import PathKey, YamlDocument


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
        from tfsctl.spec.sandbox import render_value

        rendered, problem = render_value(value, variables)
        if problem is None:
            return rendered
        issues.append(SpecIssue(doc.locate(at), *problem))
        return value

    return visit(data, path), issues
