"""`tfsctl apply | destroy | rollback | history`: the commands that change servers.

pyinfra's order: show the changes, confirm (`--auto-approve` skips it; with
no terminal to ask, it is required), apply with progress on stderr, then a
results summary. `--dry-run` stops after showing the plan.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from tfsctl.cli import console
from tfsctl.cli.options import load_checked, load_from_options, spec_options
from tfsctl.cli.plan_command import show_plan
from tfsctl.cli.progress import ProgressPrinter
from tfsctl.errors import TfsctlError
from tfsctl.plan.model import BaselineKind, Plan
from tfsctl.planning import PlanResult, select_servers
from tfsctl.runtimes.registry import profile
from tfsctl.spec.load import LoadedSpec
from tfsctl.tfenv import require_tensorflow


def require_tensorflow_for(plan: Plan) -> None:
    """Refuse, before any change, a plan that needs TensorFlow where it is not installed:
    one that exports a version, or starts a server that runs `tfsctl serve` here."""
    for server in plan.servers:
        if server.exports:
            first = server.exports[0]
            require_tensorflow(f"exporting {first.model}/{first.version}")
        if server.action.starts_server and profile(server.runtime).serves_from_tfsctl:
            require_tensorflow(f"starting {server.runtime} server {server.name!r} (tfsctl serve)")


def confirmer(auto_approve: bool, dry_run: bool, output_format: str
              ) -> Callable[[PlanResult], bool]:
    def confirm(result: PlanResult) -> bool:
        show_plan(result.plan, output_format)
        if dry_run:
            console.err().print("dry run: nothing was changed", markup=False)
            return False
        require_tensorflow_for(result.plan)
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise TfsctlError("apply needs confirmation, and there is no terminal to ask",
                              "review the plan, then pass --auto-approve")
        return click.confirm("Apply these changes?", default=False, err=True)

    return confirm


def apply_options(func: Callable[..., object]) -> Callable[..., object]:
    for option in reversed([
        click.option("--server", "servers", multiple=True, metavar="NAME",
                     help="Only this server (repeatable). Default: all."),
        click.option("-y", "--auto-approve", is_flag=True, help="Do not ask for confirmation."),
        click.option("--dry-run", is_flag=True, help="Show the plan and stop."),
        click.option("--timeout", type=float, default=300.0, show_default=True,
                     help="Seconds to wait for the server to serve every version."),
        click.option("--lock-timeout", type=float, default=0.0, show_default=True,
                     help="Seconds to wait for another apply on the same server."),
        click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]),
                     default="text", show_default=True, help="How to show the plan."),
    ]):
        func = option(func)
    return func


def _run(loaded: LoadedSpec, servers: tuple[str, ...], *, auto_approve: bool,
         dry_run: bool, timeout: float, lock_timeout: float, output_format: str,
         destroy: bool = False, purge: bool = False, saved: Plan | None = None,
         message: str = "") -> None:
    from tfsctl.apply.run import ApplyOptions, fresh_plan, run_apply, saved_plan

    names = select_servers(loaded, servers)
    options = ApplyOptions(servers=names, timeout=timeout, lock_timeout=lock_timeout,
                           message=message)
    planner = fresh_plan(loaded, names, destroy=destroy, purge=purge) if saved is None \
        else saved_plan(loaded, names, saved)
    printer = ProgressPrinter()
    try:
        outcome = run_apply(loaded, options, planner,
                            confirmer(auto_approve, dry_run, output_format), printer)
    finally:
        printer.close()
    for report in outcome.reports:
        done = [f"{len(report.exported)} exported"] if report.exported else []
        done += [f"{len(report.pruned)} pruned"] if report.pruned else []
        done += [f"smoke: {', '.join(report.smoke)}"] if report.smoke else []
        console.out().print(f"server {report.server!r}: {report.action} done"
                            + (f" ({'; '.join(done)})" if done else "")
                            + (f", serving after {report.seconds_to_serve:.1f}s"
                               if report.seconds_to_serve else ""), markup=False)
    for line in outcome.gateways:
        console.out().print(line, markup=False)
    if outcome.failure is not None:
        raise outcome.failure
    if outcome.plan.has_changes and (outcome.reports or outcome.gateways):
        verb = "Destroy" if outcome.plan.destroy else "Apply"
        console.out().print(f"{verb} complete.", style="bold green")


@click.command()
@click.argument("planfile", required=False, type=click.Path(path_type=Path))
@spec_options
@apply_options
@click.option("--chdir", type=click.Path(path_type=Path), metavar="CHECKOUT",
              help="The checkout a saved plan applies in (default: the working directory's "
                   "repository).")
def apply(planfile: Path | None, servers: tuple[str, ...], auto_approve: bool,
          dry_run: bool, timeout: float, lock_timeout: float, output_format: str,
          chdir: Path | None, **spec_args: object) -> None:
    """Make the servers match the spec: export, write config, reload or replace, verify.

    Shows the plan and asks before changing anything. Versions are exported
    atomically; a config-only change is a hot reload (no downtime); labels
    move only once their version is AVAILABLE. If a version fails to load or a
    smoke request fails, the previous config (or container) is put back and
    apply exits 1, saying what it restored.

    With PLANFILE (`tfsctl plan --out`), runs exactly the saved steps, in the
    checkout it runs in (paths in the plan are relative to the repository), and
    refuses a plan a policy denied, a live state that moved since, or a source
    whose content changed.

    \b
    Examples:
      tfsctl apply -f tfsctl.yaml
      tfsctl apply -f tfsctl.yaml --auto-approve --timeout 600     # in CI
      tfsctl plan -f tfsctl.yaml --out plan.json && tfsctl apply plan.json
    """
    plan = None
    if planfile is not None:
        from tfsctl.planfile import load_plan

        saved = load_plan(planfile, chdir)
        plan = saved.plan
        for note in saved.notes:
            console.err().print(f"note: {note}", markup=False)
        if plan.baseline.kind is BaselineKind.SPEC:
            raise TfsctlError(f"{planfile} was compared against the spec "
                              f"{plan.baseline.source}, not against the live state",
                              "apply the spec itself (`tfsctl apply -f SPEC`), or apply a plan "
                              "made against the live state or a snapshot of it")
        planned = tuple(s.name for s in plan.servers)
        if servers and set(servers) != set(planned):
            raise TfsctlError(f"{planfile} plans servers {', '.join(planned)}; a saved plan is "
                              "applied whole", "drop --server, or make a plan for those servers")
        # The spec text saved with the plan says which servers to observe and lock; the
        # plan itself says what to do, so the spec file may have changed or moved since.
        loaded = load_checked(saved.spec_file, raw=saved.spec_text.encode(),
                              environment=plan.environment)
        servers = planned
    else:
        loaded = load_from_options(spec_args)
    _run(loaded, servers, auto_approve=auto_approve, dry_run=dry_run, timeout=timeout,
         lock_timeout=lock_timeout, output_format=output_format, saved=plan)


@click.command()
@spec_options
@apply_options
@click.option("--purge", is_flag=True, help="Also delete the model version directories.")
def destroy(servers: tuple[str, ...], auto_approve: bool, dry_run: bool,
            timeout: float, lock_timeout: float, output_format: str, purge: bool,
            **spec_args: object) -> None:
    """Remove the servers (container or process) and the generated config files.

    Model versions stay on disk unless --purge is given. Shows its plan first.
    """
    _run(load_from_options(spec_args), servers, auto_approve=auto_approve, dry_run=dry_run,
         timeout=timeout, lock_timeout=lock_timeout, output_format=output_format, destroy=True,
         purge=purge)


@click.command()
@spec_options
@click.option("--server", "server_name", metavar="NAME", help="Default: the spec's first server.")
def history(server_name: str | None, **spec_args: object) -> None:
    """List the applies recorded for a server: when, who, outcome, what changed."""
    from tfsctl.live.history import read_history

    loaded = load_from_options(spec_args)
    server = loaded.spec.server(select_servers(loaded, (server_name,) if server_name else ())[0])
    assert server is not None
    entries = read_history(server.resolved_state_dir)
    if not entries:
        console.out().print(f"no applies recorded for {server.name!r} yet", markup=False)
        return
    from rich.table import Table

    table = Table("#", "applied at", "user", "outcome", "summary", title=f"history of {server.name}")
    for entry in entries:
        summary = entry.plan.get("summary", {}) if isinstance(entry.plan, dict) else {}
        table.add_row(str(entry.sequence), entry.applied_at, entry.user, entry.outcome,
                      f"+{summary.get('add', 0)} ~{summary.get('change', 0)} "
                      f"-{summary.get('destroy', 0)}" + (f"  {entry.message}" if entry.message else ""))
    console.out().print(table)


@click.command()
@spec_options
@apply_options
@click.option("--to", "to_sequence", type=int, metavar="N",
              help="History entry to return to. Default: the success before the last one.")
def rollback(servers: tuple[str, ...], auto_approve: bool, dry_run: bool,
             timeout: float, lock_timeout: float, output_format: str, to_sequence: int | None,
             **spec_args: object) -> None:
    """Re-apply an earlier successful spec, through the same plan and apply.

    The spec recorded in the history is planned against the live state like
    any other, so you see what returning to it changes before it happens.
    """
    import yaml

    from tfsctl.live.history import read_history

    current = load_from_options(spec_args)
    name = select_servers(current, servers)[0]
    server = current.spec.server(name)
    assert server is not None
    successes = [e for e in read_history(server.resolved_state_dir) if e.outcome == "success"]
    if to_sequence is not None:
        chosen = next((e for e in successes if e.sequence == to_sequence), None)
        if chosen is None:
            raise TfsctlError(f"no successful apply #{to_sequence} for {name!r}",
                              "see `tfsctl history` for the numbers")
    elif len(successes) < 2:
        raise TfsctlError(f"no earlier successful apply of {name!r} to return to",
                          "see `tfsctl history`")
    else:
        chosen = successes[-2]
    console.err().print(f"rollback: returning {name!r} to apply #{chosen.sequence} "
                        f"({chosen.applied_at})", markup=False)
    text = yaml.safe_dump(chosen.spec, sort_keys=False)
    loaded = load_checked(current.file, raw=text.encode())
    _run(loaded, (name,), auto_approve=auto_approve, dry_run=dry_run, timeout=timeout,
         lock_timeout=lock_timeout, output_format=output_format,
         message=f"rollback to #{chosen.sequence}")
