"""`tfsctl status`: what is running, which versions are AVAILABLE, and drift."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click
from rich.table import Table

from tfsctl.cli import console
from tfsctl.cli.options import load_from_options, spec_options
from tfsctl.planning import compute_plan, select_servers


def _status_dict(result: Any) -> dict[str, Any]:
    servers = []
    for live, plan in zip(result.live.servers, result.plan.servers, strict=True):
        servers.append({
            "name": live.name,
            "runtime": {**asdict(live.runtime), "status": live.runtime.status.value},
            "reachable": live.report.reachable,
            "models": [{"name": m.name, "error": m.error,
                        "versions": [{"version": v.version, "state": v.state.value,
                                      "error": v.error_message} for v in m.versions]}
                       for m in live.report.models],
            "on_disk": {name: [v.version for v in d.versions] for name, d in live.model_dirs},
            "drift": [d.message for d in plan.drift],
            "pending_changes": plan.has_changes,
        })
    return {"servers": servers}


@click.command()
@spec_options
@click.option("--server", "servers", multiple=True, metavar="NAME", help="Only this server.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(servers: tuple[str, ...], as_json: bool, **spec_args: object) -> None:
    """Show what is running: the server, each version's state, and drift from the spec."""
    loaded = load_from_options(spec_args)
    result = compute_plan(loaded, select_servers(loaded, servers))
    data = _status_dict(result)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    out = console.out()
    for server in data["servers"]:
        runtime = server["runtime"]
        out.print(f"server {server['name']!r}: {runtime['status']}"
                  + (f" ({runtime['identity']})" if runtime.get("identity") else "")
                  + ("" if server["reachable"] else ", not answering"), markup=False)
        table = Table("model", "on disk", "served (state)")
        for model in server["models"] or [{"name": n, "versions": [], "error": None}
                                          for n in server["on_disk"]]:
            served = ", ".join(f"{v['version']} {v['state']}" for v in model["versions"])
            table.add_row(model["name"], ", ".join(map(str, server["on_disk"].get(model["name"], []))),
                          served or (model["error"] or "-"))
        out.print(table)
        for drift in server["drift"]:
            out.print(f"  drift: {drift}", style="yellow", markup=False)
        if server["pending_changes"]:
            out.print("  the spec has changes not applied yet: run `tfsctl plan`", markup=False)
