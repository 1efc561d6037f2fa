"""The one interface every runtime implements (the way pyinfra's connectors do).

A runtime is where a server's process lives: a Docker container, a local
`tfsctl serve` process, ... Each is one module under `tfsctl/runtimes/`, made of
two halves, both registered in `registry.py`:

* a `RuntimeProfile` (profile.py): pure knowledge, no I/O, that the spec checks,
  the planner and the renderers may use;
* a `RuntimeDriver`: the effects, for one server: observe it, create, replace,
  restart, stop it, describe how to undo a step before taking it, undo, commit.

Nothing outside this package decides anything by the runtime's kind: callers
ask the registry for the profile or driver of `server.runtime` and use the
interface. What a user may write for a runtime is its options model, in the spec
(tfsctl/spec/runtimes/, below this package); the profile reads the server's options
as that model (`options`). Adding a runtime means its options model and one line of
the spec's registry of kinds, its module here (found by its name), and its tests.

Runtimes share by composition: swarm runs containers as docker does, so its profile
uses docker's container part (`docker.CONTAINER`) instead of deriving from docker's
profile, and each profile reads only its own options.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from tfsctl.endpoints import READY_PROBE_MODEL, Endpoint
from tfsctl.errors import TfsctlError
from tfsctl.journal import RuntimeUndo
from tfsctl.rollout.figures import Counters
from tfsctl.runtimes.profile import Settings
from tfsctl.spec.model import Server

#: How long a driver's own waits (a rollout, a drain) may take unless apply says otherwise.
DEFAULT_TIMEOUT = 300.0


class RuntimeStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # exists (container or pid file) but not running
    MISSING = "missing"  # never created, or removed
    UNREACHABLE = "unreachable"  # the engine did not answer


@dataclass(frozen=True)
class Member:
    """One copy of a server, for runtimes that run several (a Swarm task): where it runs,
    its state as the runtime reports it, and whether it runs the settings last stamped on
    the server (False: a copy left on an earlier config, e.g. by a paused rollout)."""

    name: str
    where: str
    state: str
    current: bool = True
    #: how often this copy failed and was started again (within the runtime's history)
    restarts: int = 0
    detail: str = ""


@dataclass(frozen=True)
class RuntimeState:
    """What runs a server, as its runtime reports it (read-only snapshot)."""

    status: RuntimeStatus
    config_hash: str | None = None  # the hash stamped at creation (label / process record)
    #: the public settings stamped at creation (None when it predates the stamp)
    settings: tuple[tuple[str, Any], ...] | None = None
    #: image identity (runtimes with images): what the server runs, and what the spec's image
    #: reference names on the engine now; they differ when the image was rebuilt under its tag
    image_id: str | None = None
    wanted_image_id: str | None = None
    identity: str | None = None  # container id or pid
    detail: str = ""  # e.g. the engine's error, the exit code
    #: the server's copies, for runtimes that run several (empty otherwise)
    members: tuple[Member, ...] = ()


class Step(StrEnum):
    """A change apply asks a runtime for."""

    CREATE = "create"  # nothing runs yet
    REPLACE = "replace"  # a new server from new settings, the old one kept until commit
    RESTART = "restart"  # the same settings, started again (re-reads its side files)


@dataclass(frozen=True)
class RuntimeTarget:
    """Which server, where its state lives and how to reach it: plain data, so that the
    guardian process can rebuild the same driver without the spec."""

    server: str
    runtime: str
    state_dir: str
    host: str
    grpc_port: int
    rest_port: int

    @classmethod
    def of(cls, server: Server) -> RuntimeTarget:
        endpoint = Endpoint.for_bind(str(server.bind_address), server.ports.grpc, server.ports.rest)
        return cls(server.name, server.runtime, str(server.resolved_state_dir),
                   endpoint.host, endpoint.grpc_port, endpoint.rest_port)

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.grpc_port, self.rest_port)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Launch:
    """What a driver starts a server from: the desired settings with secrets revealed.

    `env` holds secret values: it goes to the runtime and nowhere else (never a repr, a
    log line or a file of tfsctl's).
    """

    image: str
    args: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    bind_address: str = "127.0.0.1"
    grpc_port: int = 8500
    rest_port: int = 8501
    model_root: str = ""
    cpus: float | None = None
    memory_bytes: int | None = None
    #: how many copies of the server run (runtimes that run several)
    replicas: int = 1
    #: stamped on the runtime, so the next plan can compare without the engine's own report
    config_hash: str = ""
    settings: Settings = field(default_factory=dict)
    #: where the secret values come from (runtime variable -> tfsctl variable), recorded by
    #: runtimes that must restart a server later without apply (never the values)
    secret_sources: Mapping[str, str] = field(default_factory=dict)


class ServerExited(TfsctlError):
    """The server a driver started stopped running (its exit code and log lines say why)."""


class RuntimeDriver(ABC):
    """A runtime's effects for one server. Constructing one touches nothing."""

    def __init__(self, target: RuntimeTarget):
        self.target = target
        #: how long any one wait of the driver may take (apply sets its --timeout)
        self.timeout = DEFAULT_TIMEOUT

    @property
    def state_dir(self) -> Path:
        return Path(self.target.state_dir)

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every server process a reload must reach (one, unless the runtime runs several)."""
        return (self.target.endpoint,)

    def verify_endpoint(self) -> Endpoint:
        """Where apply checks the server it just started (status, label reload, smoke) before
        it takes traffic: the public ports, unless the runtime starts the new server beside
        the serving one and switches to it only in `switch` (blue/green)."""
        return self.target.endpoint

    @abstractmethod
    def check_started(self) -> None:
        """Raise ServerExited if the server has stopped running (the one this driver started,
        or else the one that was there) or, once serving, is not the one answering on its
        ports; called while apply waits, so a server that cannot start, or dies, fails the
        wait in seconds instead of at its timeout."""

    def wait_answering(self, timeout: float) -> None:
        """Until the server answers on its REST port (any HTTP answer: it is up), watching it
        with `check_started`; ServerExited if it does not within `timeout` seconds."""
        import requests

        url = f"{self.verify_endpoint().rest}/v1/models/{READY_PROBE_MODEL}"  # not a proxy's 503
        deadline = time.monotonic() + timeout
        while True:
            self.check_started()
            try:
                requests.get(url, timeout=2)
                return
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise ServerExited(f"the server did not answer at {url} within {timeout:g}s",
                                       "see its log") from None
            time.sleep(0.2)

    @abstractmethod
    def observe(self, image: str) -> RuntimeState:
        """The server as the runtime reports it, never raising for an engine that is away;
        `image` is the spec's image reference, for runtimes that compare image identity."""

    @abstractmethod
    def undo_for(self, step: Step) -> RuntimeUndo:
        """How to take back `step`, read from the runtime as it is now (no change)."""

    @abstractmethod
    def create(self, launch: Launch) -> None: ...

    @abstractmethod
    def replace(self, launch: Launch) -> None:
        """Swap the running server for one made from `launch`."""

    @abstractmethod
    def restart(self, launch: Launch) -> None:
        """Start the server again so that it re-reads its side files (batching, monitoring)."""

    def settle(self, launch: Launch) -> None:
        """Wait until the server create/replace/restart began is started as far as the runtime
        takes it (apply runs the exports that overlap its start in between). Nothing to do
        where those return once the server is started; apply then waits for its models."""
        return None

    def switch(self, launch: Launch) -> None:
        """The server started by create/replace/restart is verified (at `verify_endpoint`):
        send the traffic to it. Between verification and `commit`; `undo` still takes it
        back. A no-op for runtimes whose new server takes traffic as soon as it starts."""
        return None

    def split(self, weight: int) -> None:
        """A canary step: the server started by replace/restart, verified, gets `weight`% of
        new requests and the serving one the rest. Only runtimes whose profile has `canary`
        are planned canary steps."""
        raise TfsctlError(f"the {self.target.runtime} runtime cannot run a canary",
                          "use `rollout: {strategy: blue_green}`")

    def canary_figures(self, metrics_path: str) -> tuple[Counters, Counters | None]:
        """The cumulative request figures of the canary and of the serving instance (None when
        it cannot be read apart), from their metrics at `metrics_path` and the proxy."""
        raise TfsctlError(f"the {self.target.runtime} runtime cannot run a canary",
                          "use `rollout: {strategy: blue_green}`")

    @abstractmethod
    def undo(self, undo: RuntimeUndo) -> None: ...

    @abstractmethod
    def commit(self, undo: RuntimeUndo) -> None:
        """The new server is verified: drop what was kept to undo the step."""

    @abstractmethod
    def revive(self) -> bool:
        """Start the server again as it was, if it exists but does not run; True if it did."""

    @abstractmethod
    def destroy(self) -> None: ...
