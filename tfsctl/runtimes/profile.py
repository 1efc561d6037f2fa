"""A runtime's pure half: what it is, without touching it (base.py has its effects).

A `RuntimeProfile` is what the spec checks, the planner and the renderers may use: how
the server sees the host (`view`), which settings force a new server (`settings`), what
the runtime can do in place, and the spec rules only this runtime has (`check`). It
reads a server's options as the runtime's own options model (tfsctl/spec/runtimes/).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, get_args

from pydantic import BaseModel

from tfsctl.serverconfig.launch import ServerView
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Server

#: The settings a runtime was created from, as stamped on it: a flat mapping of
#: setting name -> JSON value, secret values replaced by a digest (see desired.py).
Settings = Mapping[str, Any]

#: A runtime's options model (tfsctl/spec/runtimes/).
Options = TypeVar("Options", bound=BaseModel)


class RuntimeProfile(ABC, Generic[Options]):
    """What a runtime is, without touching it: safe for validate and plan."""

    #: the options a server of this runtime has; its `runtime` literal names the runtime
    options_type: type[Options]
    noun: str  # "container", "process": how plans name the thing that runs the server
    #: the model root is mounted into the server at a fixed path (`seen_root`)
    mounts_root: bool = False
    #: base paths may lie outside the model root (when the server's options allow it)
    may_leave_root: bool = False
    #: settings (as `settings` names them) a runtime that rolls can change only by stopping
    #: the server, so a change to one has downtime after all
    stops_for: frozenset[str] = frozenset()
    #: the server is a `tfsctl serve` process started from tfsctl's own environment, so
    #: starting one needs TensorFlow installed beside tfsctl (the `tf` extra)
    serves_from_tfsctl: bool = False
    #: the runtime can run a canary (`rollout: {strategy: canary}`): a second instance beside
    #: the serving one, given a share of the requests by weight at its proxy
    canary: bool = False

    @property
    def kind(self) -> str:
        """The runtime's name, as a spec's `runtime:` gives it."""
        return str(get_args(self.options_type.model_fields["runtime"].annotation)[0])

    def options(self, server: Server) -> Options:
        """The server's runtime options, as this runtime declares them."""
        found = server.runtime_options
        if not isinstance(found, self.options_type):
            raise TypeError(f"the {self.kind} runtime was asked about a {server.runtime} server")
        return found

    @abstractmethod
    def seen_root(self, model_root: str) -> str:
        """Where the server sees the host's `model_root`."""

    @abstractmethod
    def view(self, server: Server) -> ServerView:
        """Where the server sees its model root, and the flags that bind its ports."""

    def settings(self, server: Server, args: tuple[str, ...]) -> dict[str, Any]:
        """The restart-only settings this runtime creates a server from (secrets apart),
        flat and named as a reviewer would say them (`ports.rest`, `env.NAME`)."""
        listen = set(self.view(server).listen_args)
        limits = server.runtime_options.resources
        found: dict[str, Any] = {
            "bind_address": str(server.bind_address),
            "ports.grpc": server.ports.grpc,
            "ports.rest": server.ports.rest,
            "model_root": str(server.model_root),
            "flags": [arg for arg in args if arg not in listen],
            "resources.cpus": limits.cpus,
            "resources.memory": int(limits.memory) if limits.memory else None,
        }
        found.update({f"env.{name}": value for name, value in server.env.items()})
        return found

    #: a create or replace returns once the new server is started, not once it serves (the
    #: driver's `settle` waits for the rest), and that server takes requests only once it
    #: serves every version its model.config names, by apply's switch or by its own health
    #: gate (or nothing served before). So the versions it still lacks can be exported while
    #: it starts (it loads each of them on its next look at the model's base path), and it
    #: can start with every label already where the spec wants it: no request meets a label
    #: whose version is still loading, so labels need no second step
    starts_gated: bool = False

    def rollout(self, server: Server) -> str | None:
        """How this runtime swaps a server for a new one without downtime, in a reviewer's
        words, or None when it cannot (the old server stops before the new one serves)."""
        return None

    def change_notes(self, before: Settings, after: Settings) -> list[str]:
        """What a change of the stamped settings from `before` to `after` means beyond the
        settings themselves, in a reviewer's words (e.g. a server moved behind a proxy)."""
        return []

    def confines_base_paths(self, server: Server) -> bool:
        """Whether every base path of this server must lie inside the model root."""
        return True

    def check(self, server: Server, where: tuple[Any, ...]) -> Iterator[Finding]:
        """Spec rules only this runtime has (`where` locates the server in the spec)."""
        return iter(())

    @staticmethod
    def outside_root(server: Server, where: tuple[Any, ...], fix: str) -> Iterator[Finding]:
        """A finding for each model whose base path lies outside the model root."""
        for index, model in enumerate(server.models):
            base = server.base_path(model)
            if base != server.model_root and server.model_root not in base.parents:
                yield Finding((*where, "models", index, "base_path"),
                              f"base path {base} is outside the model root {server.model_root}",
                              fix)
