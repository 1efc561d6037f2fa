"""The Jinja2 sandbox that renders a spec's `{{ ... }}` strings (see templating.py).

Templates are for substituting values, so they are also bounded: only `{{ ... }}`
expressions (no `{% for %}` loops or other statements), no function or method
calls, a short list of filters, and no operation (`*`, `**`, `%`, a filter) that
takes or makes a value beyond `MAX_TEMPLATE_SIZE`. A spec is untrusted input in
CI; without these limits one string could hang `tfsctl validate` (nested loops,
`lipsum(10**6)`) or exhaust memory (`'x' * 10**10`). Undefined names are errors
(StrictUndefined), never empty strings, and templates run sandboxed: a spec
cannot reach Python internals through a template.

Imported only when a spec has a templated string: Jinja2 is a sixth of the
start-up of a command that needs none of it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.defaults import DEFAULT_FILTERS
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}$", re.DOTALL)

#: The largest string or list (characters, items) and integer (bits) a template operation
#: may take or make; plain substitution of a longer variable is fine.
MAX_TEMPLATE_SIZE = 100_000
#: Filters that transform one value at a cost linear in its size.
ALLOWED_FILTERS = ("default", "d", "lower", "upper", "title", "capitalize", "trim", "string",
                   "int", "float", "abs", "round", "length", "count", "first", "last", "join",
                   "tojson", "list", "min", "max")


def _check_size(value: Any, what: str) -> None:
    """Refuse a value too big to be an operand or a result of a template operation."""
    if isinstance(value, jinja2.Undefined):
        return  # `missing|default('x')`: the filter decides what an undefined value means
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_TEMPLATE_SIZE:
            raise SecurityError(f"{what} is a number of over {MAX_TEMPLATE_SIZE} bits")
    elif isinstance(value, Sized) and not isinstance(value, Mapping) and \
            len(value) > MAX_TEMPLATE_SIZE:
        raise SecurityError(f"{what} is longer than {MAX_TEMPLATE_SIZE}")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, refusing oversized arguments and results (a join of 10**5 items with a
    10**5-character separator would be 10**10 characters)."""
    passes_context = hasattr(function, "jinja_pass_arg")  # @pass_context and the like

    def bounded(*args: Any, **kwargs: Any) -> Any:
        data = args[1:] if passes_context else args
        for arg in (*data, *kwargs.values()):
            _check_size(arg, f"an argument of |{name}")
        if name == "join" and len(data) > 1 and isinstance(data[1], str) and \
                isinstance(data[0], Sized) and len(data[0]) * len(data[1]) > MAX_TEMPLATE_SIZE:
            raise SecurityError(f"|join would make a string longer than {MAX_TEMPLATE_SIZE}")
        result = function(*args, **kwargs)
        _check_size(result, f"the result of |{name}")
        return result

    if passes_context:
        bounded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return bounded


def _literal(value: Any) -> str:
    """Python source for a constant, including the ones `repr` cannot write: an infinite or
    NaN float (`1e400`, or `'nan'|float` folded at compile time, reprs as the undefined name
    `inf`) and an integer of over 4,300 digits (`repr` refuses it; `hex` does not)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, int) and not isinstance(value, bool):
        return hex(value) if value.bit_length() > 10_000 else repr(value)
    if isinstance(value, (list, tuple)):
        items = "".join(f"{_literal(item)}, " for item in value)
        return f"[{items}]" if isinstance(value, list) else f"({items})"
    if isinstance(value, dict):
        return "{" + "".join(f"{_literal(k)}: {_literal(v)}, " for k, v in value.items()) + "}"
    return repr(value)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, writing every constant as valid Python (see `_literal`)."""

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        self.write(_literal(node.as_const(frame.eval_ctx)))


class _SpecSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, bounded in time and memory (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False,
                         keep_trailing_newline=True)
        self.globals.clear()  # range, lipsum, cycler, joiner, namespace, dict: none are needed
        self.filters = {name: _bounded_filter(name, DEFAULT_FILTERS[name])
                        for name in ALLOWED_FILTERS}

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any,
                   right: Any) -> Any:
        _check_size(left, f"the left side of {operator!r}")
        _check_size(right, f"the right side of {operator!r}")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("printf-style formatting ('%') is not supported; join with ~")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and \
                abs(left) > 1 and right * math.log2(abs(left)) > MAX_TEMPLATE_SIZE:
            raise SecurityError(f"{left} ** {right} is a number of over {MAX_TEMPLATE_SIZE} bits")
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                if isinstance(sized, Sized) and isinstance(times, int) and \
                        len(sized) * times > MAX_TEMPLATE_SIZE:
                    raise SecurityError(f"'*' would make a value longer than {MAX_TEMPLATE_SIZE}")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any,  # noqa: N805
             **kwargs: Any) -> Any:
        raise SecurityError("calling functions or methods is not allowed in a spec; "
                            f"use a filter ({', '.join(ALLOWED_FILTERS[:6])}, ...)")


_ENV = _SpecSandbox()


def _only_expressions(text: str) -> None:
    """`{% ... %}` statements (loops, macros, sets) are refused: a spec substitutes values."""
    for statement in _ENV.parse(text).find_all(nodes.Stmt):
        if not isinstance(statement, nodes.Output):
            raise SecurityError(f"`{{% {type(statement).__name__.lower()} %}}` statements are "
                                "not supported in a spec, only {{ expressions }}")


def _reason(error: BaseException) -> str:
    """The error's message, in spec terms where Python's would be puzzling."""
    if isinstance(error, ValueError) and "integer string conversion" in str(error):
        return "a number has more than 4,300 digits"
    return str(error)


def render_string(text: str, variables: Mapping[str, Any]) -> Any:
    single = _SINGLE_EXPRESSION.match(text.strip())
    if single:
        value = _ENV.compile_expression(single["expr"], undefined_to_none=False)(**variables)
        if isinstance(value, jinja2.Undefined):
            str(value)  # raises UndefinedError with the variable's name
        return value
    _only_expressions(text)
    return _ENV.from_string(text).render(**variables)


def render_value(text: str, variables: Mapping[str, Any]) -> tuple[Any, tuple[str, str] | None]:
    """(the rendered value, None), or (None, (what is wrong, how to fix it))."""
    try:
        return render_string(text, variables), None
    except jinja2.UndefinedError as exc:
        return None, (f"undefined variable: {exc.message}",
                      "define it under `variables:` (or the environment's `variables:`), "
                      "or pass --var NAME=VALUE")
    except jinja2.TemplateSyntaxError as exc:
        return None, (f"template syntax error: {exc.message}", "write variables as {{ name }}")
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, RecursionError,
            MemoryError) as exc:
        return None, (f"template failed: {_reason(exc)}",
                      "check the expression and the variables it uses")
