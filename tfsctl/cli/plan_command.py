"""`tfsctl plan`: read the spec, observe the live state once, diff, render."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from tfsctl.cli import console
from tfsctl.cli.options import load_from_options, spec_options
from tfsctl.plan.model import Plan
from tfsctl.planning import compute_plan, select_servers


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


def shown_plan(plan: Plan, spec_file: Path) -> Plan:
    """`plan` as printed: host paths relative to the repository (or the spec's directory)."""
    from tfsctl.cli.display import display_prefixes
    from tfsctl.plan.relative import relative_plan

    # the spec as an absolute path first, so it is shown from the same root as the others
    plan = replace(plan, spec_file=os.path.abspath(plan.spec_file))
    return relative_plan(plan, display_prefixes(spec_file))


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
    make apply refuse. Paths are shown relative to the repository (or the
    spec's directory), so the same spec gives the same plan on any machine.

    \b
    Examples:
      tfsctl plan -f tfsctl.yaml
      tfsctl plan -f tfsctl.yaml --format markdown > plan.md    # for the pull request
      tfsctl plan -f tfsctl.yaml --out plan.json && tfsctl apply plan.json
    """
    loaded = load_from_options(spec_args)
    result = compute_plan(loaded, select_servers(loaded, servers), destroy=destroy)
    plan = shown_plan(result.plan, loaded.file)
    show_plan(plan, "json" if as_json else output_format)
    if out is not None:
        from tfsctl.planfile import save_plan

        # apply executes the plan file: it keeps the absolute paths
        save_plan(out, result.plan, spec_text=loaded.text, spec_file=str(loaded.file))
        console.err().print(f"saved the plan to {out}; apply it with `tfsctl apply {out}`",
                            markup=False)
    if plan.errors:
        ctx.exit(1)
    if detailed_exitcode and plan.has_changes:
        ctx.exit(2)
