"""`tfsctl status`: what is running, which versions are AVAILABLE, and drift."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from tfsctl.cli import console
from tfsctl.cli.options import load_from_options, spec_options
from tfsctl.live.state import RuntimeStatus
from tfsctl.planning import PlanResult, compute_plan, secret_values, select_servers
from tfsctl.rollout.progress import read_progress


def _canary(result: Any, name: str) -> dict[str, Any] | None:
    server = result.loaded.spec.server(name)
    return read_progress(server.resolved_state_dir) if server is not None else None


def _status_dict(result: Any) -> dict[str, Any]:
    servers = []
    for live, plan in zip(result.live.servers, result.plan.servers, strict=True):
        servers.append({
            "name": live.name,
            "deployed": live.runtime.status is not RuntimeStatus.MISSING,
            "runtime": {**asdict(live.runtime), "status": live.runtime.status.value},
            "reachable": live.report.reachable,
            "models": [{"name": m.name, "error": m.error,
                        "versions": [{"version": v.version, "state": v.state.value,
                                      "error": v.error_message} for v in m.versions]}
                       for m in live.report.models],
            "on_disk": {name: [v.version for v in d.versions] for name, d in live.model_dirs},
            "drift": [d.message for d in plan.drift],
            "pending_changes": plan.has_changes,
            "canary": _canary(result, live.name),
        })
    named = {(g.server, g.name) for g in result.loaded.spec.gateways}
    gateways = [{"name": g.name, "server": g.server, "status": g.state.status.value,
                 "identity": g.state.identity, "detail": g.state.detail,
                 "in_spec": (g.server, g.name) in named,
                 "pending_changes": any(p.has_changes for p in result.plan.gateways
                                        if (p.server, p.name) == (g.server, g.name))}
                for g in result.live.gateways]
    return {"servers": servers, "gateways": gateways}


def _write_snapshot(path: Path, result: PlanResult) -> None:
    from tfsctl.live.snapshot import snapshot_document, write_snapshot

    secrets = {k: v for k, v in secret_values(result.loaded).items() if v is not None}
    write_snapshot(path, snapshot_document(result.loaded, result.live, secrets,
                                           datetime.now(UTC)))
    console.err().print(f"wrote the live-state snapshot {path}; plan against it anywhere with "
                        f"`tfsctl plan -f {result.loaded.file} --live {path}`", markup=False)


@click.command()
@spec_options
@click.option("--server", "servers", multiple=True, metavar="NAME", help="Only this server.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--snapshot", type=click.Path(path_type=Path), metavar="FILE",
              help="Also write the observed live state to FILE, for `tfsctl plan --live FILE` "
                   "where the servers cannot be reached (docs/live-snapshot.md).")
def status(servers: tuple[str, ...], as_json: bool, snapshot: Path | None,
           **spec_args: object) -> None:
    """Show what is running: the server, each version's state, and drift from the spec.

    With --snapshot, also save what was observed, so that a job that cannot
    reach the servers (a pull request's CI) can plan against it. Refused when
    the Docker engine does not answer: the snapshot would not say what runs.

    \b
    Examples:
      tfsctl status -f tfsctl.yaml
      tfsctl status -f tfsctl.yaml --snapshot live.json     # in the deploy job
    """
    loaded = load_from_options(spec_args)
    result = compute_plan(loaded, select_servers(loaded, servers))
    if snapshot is not None:
        _write_snapshot(snapshot, result)
    data = _status_dict(result)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    out = console.out()
    for server in data["servers"]:
        runtime = server["runtime"]
        if not server["deployed"]:
            out.print(f"server {server['name']!r}: not deployed", markup=False)
            continue
        out.print(f"server {server['name']!r}: {runtime['status']}"
                  + (f" ({runtime['identity']})" if runtime.get("identity") else "")
                  + ("" if server["reachable"] else ", not answering"), markup=False)
        for member in runtime.get("members") or ():
            out.print(f"  {member['name']} on {member['where']}: {member['state']}"
                      + ("" if member["current"] else ", on an earlier apply's settings")
                      + (f", restarted {member['restarts']}x" if member["restarts"] else ""),
                      markup=False)
        table = Table("model", "on disk", "served (state)")
        for model in server["models"] or [{"name": n, "versions": [], "error": None}
                                          for n in server["on_disk"]]:
            served = ", ".join(f"{v['version']} {v['state']}" for v in model["versions"])
            table.add_row(model["name"], ", ".join(map(str, server["on_disk"].get(model["name"], []))),
                          served or (model["error"] or "-"))
        out.print(table)
        canary = server["canary"]
        if canary is not None:
            p99 = "n/a" if canary["p99_ms"] is None else f"{canary['p99_ms']:g}ms"
            out.print(f"  canary in progress: step {canary['step']}/{canary['of']} at "
                      f"{canary['weight']}%, {canary['requests']} request(s) in the last interval, "
                      f"error rate {canary['error_rate'] * 100:.3g}%, p99 {p99}, "
                      f"{canary['left_s']:.3g}s left in the step", markup=False)
        for drift in server["drift"]:
            out.print(f"  drift: {drift}", style="yellow", markup=False)
        if server["pending_changes"]:
            out.print("  the spec has changes not applied yet: run `tfsctl plan`", markup=False)
    for gateway in data["gateways"]:
        out.print(f"gateway {gateway['name']!r} (server {gateway['server']!r}): "
                  f"{gateway['status']}" + (f" ({gateway['identity']})" if gateway["identity"]
                                            else "")
                  + (", no longer in the spec: apply removes it" if not gateway["in_spec"]
                     else ", the spec has changes not applied yet" if gateway["pending_changes"]
                     else ""), markup=False)
