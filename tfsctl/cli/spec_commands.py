"""Commands that read a spec and nothing else: validate, schema, render, import.

None of them touches the Docker engine, a server or TensorFlow, so they are
fast and safe in pre-commit hooks and CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from tfsctl.cli import console
from tfsctl.cli.options import (
    load_checked,
    load_from_options,
    parse_vars,
    spec_options,
    variable_options,
)
from tfsctl.errors import TfsctlError
from tfsctl.spec.errors import SpecError
from tfsctl.spec.model import Server, Spec
from tfsctl.spec.runtimes import RUNTIMES

SCHEMA_PATH = Path("schemas") / "tfsctl.schema.json"


def schema_text() -> str:
    """The JSON Schema of a spec file, as committed under schemas/ for editors."""
    schema = Spec.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tfsctl spec (apiVersion tfsctl/v1)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@variable_options
def validate(files: tuple[Path, ...], environment: str | None, variables: tuple[str, ...]) -> None:
    """Check spec FILES: YAML, variables, types and cross-field rules.

    Every problem in every file is reported as file:line:column, with what to
    fix. Exits 1 if any file has a problem. Needs no engine and no TensorFlow,
    so it fits a pre-commit hook.

    \b
    Example:
      tfsctl validate examples/*.yaml
    """
    overrides = parse_vars(variables)
    failed: list[SpecError] = []
    for file in files:
        try:
            loaded = load_checked(file, environment=environment, overrides=overrides)
        except SpecError as error:
            failed.append(error)
            continue
        servers = loaded.spec.servers
        models = sum(len(s.models) for s in servers)
        console.out().print(f"ok  {file}  ({len(servers)} server{'s' * (len(servers) != 1)}, "
                            f"{models} model{'s' * (models != 1)})", markup=False)
    if failed:
        raise SpecError([issue for error in failed for issue in error.issues],
                        failed[0].source_lines if len(failed) == 1 else None)


@click.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed schema is stale.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=SCHEMA_PATH,
              show_default=True, help="Where to write the schema; '-' for stdout.")
def schema(check: bool, output: Path) -> None:
    """Write the JSON Schema of spec files (for editors and review tools).

    Point your editor's YAML language server at it with a first line of
    `# yaml-language-server: $schema=schemas/tfsctl.schema.json`.
    """
    text = schema_text()
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            raise TfsctlError(f"{output} is stale", "run `tfsctl schema` and commit the result")
        console.out().print(f"ok  {output} is current", markup=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.out().print(f"wrote {output}", markup=False)


@click.command()
@spec_options
@click.option("--server", "server_name", metavar="NAME", help="Only this server.")
@click.option("--what", type=click.Choice(["model-config", "args", "all", "kubernetes"]),
              default="model-config", show_default=True,
              help="model.config only, the server flags, every file, or Kubernetes manifests.")
def render(server_name: str | None, what: str, **spec_args: object) -> None:
    """Print the model.config the spec produces, in TF Serving's text format.

    With several servers, each server's config is preceded by a `# server:`
    comment (valid in protobuf text format). `--what all` also prints the
    batching and monitoring files and the server's flags.

    `--what kubernetes` prints a YAML stream per server (ConfigMap, Deployment,
    Service, and a PodDisruptionBudget with replicas > 1) from each server's
    `kubernetes:` block, to commit and hand to `kubectl apply -k`, Argo CD or
    Flux; tfsctl itself never talks to a cluster.

    \b
    Example:
      tfsctl render -f examples/kubernetes.yaml --what kubernetes > deploy/serving.yaml
    """
    loaded = load_from_options(spec_args)
    servers = [s for s in loaded.spec.servers if server_name in (None, s.name)]
    if not servers:
        raise TfsctlError(f"no server named {server_name!r}",
                          f"use one of: {', '.join(s.name for s in loaded.spec.servers)}")
    if what == "kubernetes":
        click.echo(_kubernetes(servers, loaded.file, loaded.environment), nl=False)
        return
    from tfsctl.runtimes.desired import desired_model_entries, desired_runtime
    from tfsctl.serverconfig.launch import side_files
    from tfsctl.serverconfig.model_config import render_text

    parts = []
    for server in servers:
        header = f"# server: {server.name}\n" if len(loaded.spec.servers) > 1 or what != \
            "model-config" else ""
        body = ""
        if what in ("model-config", "all"):
            body += render_text(desired_model_entries(server))
        if what == "all":
            for side in side_files(server):
                body += f"# file: {side.name}\n{side.content}"
        if what in ("args", "all"):
            body += "# args: " + " ".join(desired_runtime(server).args) + "\n"
        parts.append(header + body)
    click.echo("".join(parts), nl=False)


def _kubernetes(servers: list[Server], file: Path, environment: str | None) -> str:
    from tfsctl.kubernetes.render import render_stream

    missing = [s.name for s in servers if s.kubernetes is None]
    if missing:
        raise TfsctlError(f"{file}: no `kubernetes:` block for server {', '.join(missing)}",
                          "add one with the pods' model root, e.g. `kubernetes: "
                          "{model_volume: {claim: models}}`, or pick servers with --server")
    source = f"{file} (--env {environment})" if environment else str(file)
    return render_stream(servers, source)


@click.command(name="import")
@click.argument("model_config", type=click.Path(path_type=Path))
@click.option("--server-name", default="default", show_default=True)
@click.option("--runtime", type=click.Choice(RUNTIMES), default="local",
              show_default=True, help="docker: base paths are /models/...; local: host paths.")
@click.option("--model-root", metavar="DIR",
              help="Host model root (docker: the dir mounted at /models). Default: the common "
                   "parent of the base paths.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
def import_(model_config: Path, server_name: str, runtime: str, model_root: str | None,
            output: Path | None) -> None:
    """Turn an existing MODEL_CONFIG (model.config) into a tfsctl spec.

    `tfsctl render` of the result gives an equivalent model.config, and
    `tfsctl validate` accepts it: entries a spec cannot hold are refused with the
    reason, at file:line:column in MODEL_CONFIG. ${VAR} references in base paths
    are expanded from the environment.
    """
    from tfsctl.importer import import_file

    text = import_file(model_config, server_name=server_name, runtime=runtime,
                       model_root=model_root,
                       spec_dir=(output.parent if output is not None else Path.cwd()))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        console.err().print(f"wrote {output}", markup=False)

