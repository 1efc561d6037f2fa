"""`tfsctl plan`: read the spec, observe the live state once, diff, render.

The same `compute_plan` is what `apply` runs before it asks for confirmation,
so what a reviewer read is what apply does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from tfsctl.cli import console
from tfsctl.cli.options import load_from_options, spec_options
from tfsctl.errors import TfsctlError
from tfsctl.live.state import LiveState
from tfsctl.plan.model import Plan
from tfsctl.spec.load import LoadedSpec


@dataclass(frozen=True)
class PlanResult:
    loaded: LoadedSpec
    live: LiveState
    plan: Plan


def select_servers(loaded: LoadedSpec, names: tuple[str, ...]) -> list[str]:
    known = [s.name for s in loaded.spec.servers]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TfsctlError(f"no server named {', '.join(map(repr, unknown))} in {loaded.file}",
                          f"use one of: {', '.join(known)}")
    return list(names) or known


def secret_values(loaded: LoadedSpec) -> dict[str, str | None]:
    """The secret_env sources from tfsctl's own environment (None: not set)."""
    names = {src for server in loaded.spec.servers for src in server.secret_env.values()}
    return {name: os.environ.get(name) for name in names}


def compute_plan(loaded: LoadedSpec, servers: list[str], *, destroy: bool = False,
                 purge: bool = False) -> PlanResult:
    from tfsctl.live.observe import observe
    from tfsctl.live.sources import observe_sources
    from tfsctl.plan.diff import build_plan

    live = observe(loaded, servers=servers, report=True)
    plan = build_plan(loaded, live, sources=observe_sources(loaded.spec, live),
                      secrets=secret_values(loaded), servers=servers, destroy=destroy,
                      purge=purge)
    return PlanResult(loaded, live, plan)


def show_plan(plan: Plan, output_format: str) -> None:
    if output_format == "json":
        from tfsctl.plan.render.json import render_json

        click.echo(render_json(plan))
    elif output_format == "markdown":
        from tfsctl.plan.render.markdown import render_markdown

        click.echo(render_markdown(plan))
    else:
        from tfsctl.plan.render.text import render_text

        render_text(plan, console.out())


FORMATS = click.Choice(["text", "json", "markdown"])


@click.command()
@spec_options
@click.option("--server", "servers", multiple=True, metavar="NAME",
              help="Plan only this server (repeatable). Default: all.")
@click.option("--format", "output_format", type=FORMATS, default="text", show_default=True,
              help="text for people, json for machines, markdown for pull requests.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--out", "out", type=click.Path(path_type=Path), metavar="PLANFILE",
              help="Save the plan; `tfsctl apply PLANFILE` applies exactly it.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when nothing would change, 2 when something would, 1 on error.")
@click.option("--destroy", is_flag=True, help="Plan removing the servers instead.")
@click.pass_context
def plan(ctx: click.Context, servers: tuple[str, ...], output_format: str, as_json: bool,
         out: Path | None, detailed_exitcode: bool, destroy: bool, **spec_args: object) -> None:
    """Show what apply would change, and why. Changes nothing.

    Reads the spec, observes each server once (model dirs, model.config, the
    container or process, the server's own status), and prints the diff:
    versions to export (+), config entries changed (~) or removed (-), and
    whether the server is hot-reloaded or replaced (-/+). Errors (a version
    with no source, a changed source, an unreachable engine) are listed and
    make apply refuse.

    \b
    Examples:
      tfsctl plan -f tfsctl.yaml
      tfsctl plan -f tfsctl.yaml --format markdown > plan.md    # for the pull request
      tfsctl plan -f tfsctl.yaml --out plan.json && tfsctl apply plan.json
    """
    loaded = load_from_options(spec_args)
    result = compute_plan(loaded, select_servers(loaded, servers), destroy=destroy)
    show_plan(result.plan, "json" if as_json else output_format)
    if out is not None:
        from tfsctl.plan.planfile import save_plan

        save_plan(out, result.plan, spec_text=loaded.file.read_text(), spec_file=str(loaded.file))
        console.err().print(f"saved the plan to {out}; apply it with `tfsctl apply {out}`",
                            markup=False)
    if result.plan.errors:
        ctx.exit(1)
    if detailed_exitcode and result.plan.has_changes:
        ctx.exit(2)
