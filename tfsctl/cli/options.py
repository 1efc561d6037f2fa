"""Options shared by every command that reads a spec: -f FILE, --env, --var."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from tfsctl.errors import TfsctlError
from tfsctl.spec.load import LoadedSpec, load_spec

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SPEC = Path("tfsctl.yaml")


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.isidentifier():
            raise TfsctlError(f"--var {pair!r} is not NAME=VALUE", "e.g. --var image_tag=2.19.1")
        values[name] = value
    return values


def variable_options(func: F) -> F:
    """--env and --var."""
    func = click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                        help="Set a variable, overriding the file (repeatable).")(func)
    return click.option("--env", "environment", metavar="NAME",
                        help="Use this environment's variables (dev, staging, prod, ...).")(func)


def spec_options(func: F) -> F:
    """-f FILE plus --env and --var; the command receives them as keyword arguments."""
    func = variable_options(func)
    return click.option("-f", "--file", "spec_file", type=click.Path(path_type=Path),
                        default=DEFAULT_SPEC, show_default=True,
                        help="The spec file.")(func)


def load_checked(file: Path, **options: Any) -> LoadedSpec:
    """`load_spec` with every rule checked: the spec's own and its runtimes' (see
    tfsctl/runtimes/registry.py); what every command loads a spec with."""
    from tfsctl.runtimes.registry import runtime_checks

    return load_spec(file, checks=runtime_checks, **options)


def load_from_options(options: Mapping[str, Any]) -> LoadedSpec:
    return load_checked(options["spec_file"], environment=options.get("environment"),
                        overrides=parse_vars(options.get("variables", ())))
