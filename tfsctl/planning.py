"""The one impure step before a plan: observe the live state once, then diff.

`plan`, `apply`, `destroy` and `rollback` all go through `compute_plan`, so
what a reviewer read is what apply does. It sits above the pure `plan` package
(which never reads anything) and below `apply`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tfsctl.errors import TfsctlError
from tfsctl.live.state import LiveState
from tfsctl.plan.model import Plan
from tfsctl.spec.load import LoadedSpec


@dataclass(frozen=True)
class PlanResult:
    loaded: LoadedSpec
    live: LiveState
    plan: Plan


def select_servers(loaded: LoadedSpec, names: tuple[str, ...] | list[str]) -> list[str]:
    known = [s.name for s in loaded.spec.servers]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise TfsctlError(f"no server named {', '.join(map(repr, unknown))} in {loaded.file}",
                          f"use one of: {', '.join(known)}")
    return list(names) or known


def read_secrets(sources: Iterable[str]) -> dict[str, str | None]:
    """The values of secret_env sources in tfsctl's own environment (None: not set)."""
    return {name: os.environ.get(name) for name in set(sources)}


def secret_values(loaded: LoadedSpec) -> dict[str, str | None]:
    """The secret_env sources of every server of the spec, read from the environment."""
    return read_secrets(src for server in loaded.spec.servers for src in server.secret_env.values())


def compute_plan(loaded: LoadedSpec, servers: list[str], *, destroy: bool = False,
                 purge: bool = False) -> PlanResult:
    from tfsctl.live.gateways import handler_digests
    from tfsctl.live.observe import observe
    from tfsctl.live.sources import observe_sources
    from tfsctl.plan.diff import build_plan

    live = observe(loaded, servers=servers, report=True)
    plan = build_plan(loaded, live, sources=observe_sources(loaded.spec, live),
                      secrets=secret_values(loaded), servers=servers,
                      handlers=handler_digests(loaded.spec), destroy=destroy, purge=purge)
    return PlanResult(loaded, live, plan)
