"""The runtimes a spec can name, each with the options only it has: the registry of kinds.

A server's YAML stays flat (`runtime: swarm` and `replicas: 2` beside `name:`); the
`Server` model hands every key that is not its own to the options model its `runtime:`
picks, a pydantic discriminated union, so a key of another runtime (`replicas` on a
local server) is an error naming the runtimes that have it.

Why the options models live here, under the spec, and not beside each runtime's code
in `tfsctl/runtimes/`: the spec is validated (and its JSON Schema made) from these
models, and `tfsctl/spec` sits below `tfsctl/runtimes` (`tests/unit/test_layers.py`), so
the spec can name them only if they are at or below its layer. The split also keeps
what they hold apart: here what a user may write, pure data; there what the runtime
does with it (its profile reads its own options model, its driver runs the server).
`validate` and `schema` import no runtime code.

A new runtime `X` is its options model `tfsctl/spec/runtimes/X.py`, one member of
`RuntimeOptions` below, and its code `tfsctl/runtimes/X.py` (found by that name, see
tfsctl/runtimes/registry.py). Every options model declares `runtime: Literal["X"]` and
answers `image`, `resources` and `replicas`, as fields or as properties when the
runtime has no such key: the planner's memory check and the Kubernetes renderer ask
those of any server without asking which runtime it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, get_args

from pydantic import BaseModel, Field

from tfsctl.spec.runtimes.docker import DockerOptions
from tfsctl.spec.runtimes.local import LocalOptions
from tfsctl.spec.runtimes.swarm import SwarmOptions

RuntimeOptions = Annotated[
    DockerOptions
    | LocalOptions
    | SwarmOptions,
    Field(discriminator="runtime"),
]

#: The runtime of a server whose spec names none.
DEFAULT_RUNTIME = "docker"

OPTIONS_MODELS: tuple[type[BaseModel], ...] = get_args(get_args(RuntimeOptions)[0])
#: Every runtime's name, as `runtime:` takes it.
RUNTIMES: tuple[str, ...] = tuple(get_args(m.model_fields["runtime"].annotation)[0]
                                  for m in OPTIONS_MODELS)


def runtimes_with(key: str) -> tuple[str, ...]:
    """The runtimes whose options have `key` (to say where a misplaced key belongs)."""
    return tuple(kind for kind, model in zip(RUNTIMES, OPTIONS_MODELS, strict=True)
                 if key in model.model_fields and key != "runtime")


def with_runtime_options(data: Any, own: Iterable[str]) -> Any:
    """A server's input with the keys that are not `own` moved into its `runtime_options`
    (docker's unless `runtime:` names another runtime), which take only their own keys."""
    if not isinstance(data, dict):
        return data
    own = set(own)
    options = {k: v for k, v in data.items() if k not in own}
    options.setdefault("runtime", DEFAULT_RUNTIME)
    return {**{k: v for k, v in data.items() if k in own}, "runtime_options": options}


def flat_server_schema(server: dict[str, Any],
                       resolve: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Make a server's JSON Schema the flat object editors complete from: its own keys and
    exactly one runtime's (`oneOf`, picked by `runtime`; any other key is an error).
    `resolve` turns a `$ref` into the schema it names, changed in place."""
    options = server["properties"].pop("runtime_options")
    server["required"].remove("runtime_options")
    del server["additionalProperties"]
    server["unevaluatedProperties"] = False
    server["oneOf"] = options["oneOf"]
    branches = [resolve(ref) for ref in options["oneOf"]]
    server["properties"]["runtime"] = {
        "enum": list(RUNTIMES), "default": DEFAULT_RUNTIME,
        "description": "What runs the server; " + "; ".join(
            b["properties"]["runtime"]["description"].rstrip(".") for b in branches) + "."}
    for branch in branches:  # each is checked against the whole server, beside its own keys
        del branch["additionalProperties"]
        if branch["properties"]["runtime"]["const"] == DEFAULT_RUNTIME:
            branch["required"].remove("runtime")
        if not branch["required"]:
            del branch["required"]
