"""`tfsctl plan`: read the spec, get the live state (observed, a snapshot, or another spec's),
diff, check policies, render."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from tfsctl.cli import console
from tfsctl.cli.options import load_from_options, parse_vars, spec_options
from tfsctl.errors import TfsctlError
from tfsctl.plan.model import Plan
from tfsctl.plan.render import COMMENT_LIMIT
from tfsctl.planning import compute_plan, select_servers
from tfsctl.spec.load import LoadedSpec


def show_plan(plan: Plan, output_format: str, *, markdown_limit: int | None = None,
              full_plan_at: str = "") -> None:
    if output_format == "json":
        from tfsctl.plan.render.json import render_json

        click.echo(render_json(plan))
    elif output_format == "markdown":
        from tfsctl.plan.render.markdown import render_markdown

        click.echo(render_markdown(plan, limit=markdown_limit, full_plan_at=full_plan_at))
    else:
        from tfsctl.plan.render.text import render_text

        render_text(plan, console.out())


FORMATS = click.Choice(["text", "json", "markdown"])


def shown_plan(plan: Plan, spec_file: Path, stand_ins: tuple[Path, ...] = ()) -> Plan:
    """`plan` with its host paths relative to the repository (or the spec's directory);
    `stand_ins` are directories that stand for the spec's (a snapshot machine's)."""
    from tfsctl.cli.display import display_prefixes
    from tfsctl.plan.relative import relative_plan

    # the spec and the baseline as absolute paths first, so they are shown from the same root
    plan = replace(plan, spec_file=os.path.abspath(plan.spec_file), baseline=replace(
        plan.baseline, source=plan.baseline.source and os.path.abspath(plan.baseline.source)))
    return relative_plan(plan, display_prefixes(spec_file, stand_ins))


def _compute(spec_args: Mapping[str, Any], servers: tuple[str, ...], against: Path | None,
             snapshot: Path | None, destroy: bool) -> tuple[LoadedSpec, Plan, Plan]:
    """The plan against the chosen baseline: as made (for a plan file), and as shown."""
    from tfsctl.cli.offline import plan_against_snapshot, plan_against_spec

    if against is not None and snapshot is not None:
        raise TfsctlError("--against and --live are two different baselines",
                          "give one: --against OLD_SPEC, or --live SNAPSHOT")
    loaded = load_from_options(spec_args)
    names = select_servers(loaded, servers)
    overrides = parse_vars(spec_args.get("variables", ()))
    stand_ins: tuple[Path, ...] = ()
    if against is not None:
        plan = plan_against_spec(loaded, against, overrides, names, destroy=destroy)
    elif snapshot is not None:
        plan, snapshot_dir = plan_against_snapshot(loaded, snapshot, overrides, names,
                                                   destroy=destroy)
        stand_ins = (snapshot_dir,)
    else:
        plan = compute_plan(loaded, names, destroy=destroy).plan
    return loaded, plan, shown_plan(plan, loaded.file, stand_ins)


def _report_policy(plan: Plan, output_format: str) -> None:
    """Denials and warnings on stderr too when stdout is JSON or Markdown (a CI log shows
    stderr; the text plan already lists them)."""
    if output_format == "text":
        return
    from tfsctl.plan.model import PolicyLevel
    from tfsctl.plan.render.lines import policy_text

    for finding in plan.policy:
        console.err().print(policy_text(finding), markup=False,
                            style="red" if finding.level is PolicyLevel.DENY else "yellow")


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
@click.option("--against", type=click.Path(path_type=Path), metavar="OLD_SPEC",
              help="Compare with another spec (the base branch's) as if it were applied, "
                   "instead of the live state. Contacts no engine or server.")
@click.option("--live", "snapshot", type=click.Path(path_type=Path), metavar="SNAPSHOT",
              help="Compare with a live-state snapshot (`tfsctl status --snapshot`) instead "
                   "of observing. Contacts no engine or server.")
@click.option("--policy", "policy_dirs", multiple=True, type=click.Path(path_type=Path),
              metavar="DIR", help="Check the plan with the Rego policies in DIR (conftest's "
                                  "convention; repeatable). A denial exits 1.")
@click.option("--markdown-limit", type=click.IntRange(min=1000), default=COMMENT_LIMIT,
              show_default=True, help="Cut a Markdown plan longer than this many characters "
                                      "(GitHub's comment limit), keeping its summary.")
@click.option("--full-plan-at", default="", metavar="TEXT",
              help="Where the full plan is (a URL, an artifact), named when a Markdown plan "
                   "is cut. Default: the --out file.")
@click.pass_context
def plan(ctx: click.Context, servers: tuple[str, ...], output_format: str, as_json: bool,
         out: Path | None, detailed_exitcode: bool, destroy: bool, against: Path | None,
         snapshot: Path | None, policy_dirs: tuple[Path, ...], markdown_limit: int,
         full_plan_at: str, **spec_args: object) -> None:
    """Show what apply would change, and why. Changes nothing.

    Reads the spec, observes each server once (model dirs, model.config, the
    container or process, the server's own status), and prints the diff:
    versions to export (+), config entries changed (~) or removed (-), and
    whether the server is hot-reloaded or replaced (-/+). Errors (a version
    with no source, a changed source, an unreachable engine) are listed and
    make apply refuse.

    Where the servers cannot be reached (a pull request's CI job), compare
    with the base branch's spec (--against) or with a snapshot the deploy job
    took (--live); every format says what the plan was compared against.
    Paths are shown relative to the repository (or the spec's directory), so
    the same spec gives the same plan on any machine.

    \b
    Examples:
      tfsctl plan -f tfsctl.yaml
      tfsctl plan -f tfsctl.yaml --format markdown > plan.md    # for the pull request
      tfsctl plan -f tfsctl.yaml --out plan.json && tfsctl apply plan.json
      git show origin/main:tfsctl.yaml > base.yaml
      tfsctl plan -f tfsctl.yaml --against base.yaml --policy policies/ --detailed-exitcode
      tfsctl status -f tfsctl.yaml --snapshot live.json          # where the servers are
      tfsctl plan -f tfsctl.yaml --live live.json                # anywhere
    """
    loaded, planned, shown = _compute(spec_args, servers, against, snapshot, destroy)
    if policy_dirs:  # policies read the plan as printed: the same paths on every machine
        from tfsctl.plan.render.json import plan_to_dict
        from tfsctl.rego import evaluate

        findings = evaluate(policy_dirs, plan_to_dict(shown))
        planned, shown = replace(planned, policy=findings), replace(shown, policy=findings)
    output_format = "json" if as_json else output_format
    show_plan(shown, output_format, markdown_limit=markdown_limit,
              full_plan_at=full_plan_at or (f"the saved plan {out}" if out else ""))
    _report_policy(shown, output_format)
    if out is not None:
        from tfsctl.planfile import save_plan

        # paths relative to the spec's anchor (its repository): applied in any checkout
        save_plan(out, planned, spec_text=loaded.text, spec_file=loaded.file)
        console.err().print(f"saved the plan to {out}; apply it with `tfsctl apply {out}`",
                            markup=False)
    if shown.errors or shown.denials:
        ctx.exit(1)
    if detailed_exitcode and shown.has_changes:
        ctx.exit(2)
