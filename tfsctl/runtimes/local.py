"""`runtime: local`: the server is a `tfsctl serve` process on this machine.

For laptops and machines without Docker. The server sees host paths as they
are and binds the spec's ports itself. A process cannot keep an old server
while a new one binds the same ports, so a replace stops the old process first;
its undo starts a process again from the previous process record (arguments,
plain environment and where its secrets come from; recorded in the journal
beforehand, so a killed apply can be undone too, with the same environment).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tfsctl.failpoints import failpoint
from tfsctl.journal import RuntimeUndo, RuntimeUndoKind
from tfsctl.runtimes import ports, process
from tfsctl.runtimes.base import (
    Launch,
    RuntimeDriver,
    RuntimeState,
    RuntimeStatus,
    RuntimeTarget,
    ServerExited,
    Step,
)
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.serverconfig.launch import ServerView, listen_flags
from tfsctl.spec.checks import Finding
from tfsctl.spec.model import Server
from tfsctl.spec.runtimes.local import LocalOptions


class LocalProfile(RuntimeProfile[LocalOptions]):
    options_type = LocalOptions
    noun = "process"
    may_leave_root = True
    serves_from_tfsctl = True

    def seen_root(self, model_root: str) -> str:
        return model_root

    def view(self, server: Server) -> ServerView:
        return ServerView(self.seen_root(str(server.model_root)),
                          listen_flags(str(server.bind_address), server.ports.grpc, server.ports.rest))

    def confines_base_paths(self, server: Server) -> bool:
        return not self.options(server).allow_external_base_paths

    def check(self, server: Server, where: tuple[Any, ...]) -> Iterator[Finding]:
        if not self.confines_base_paths(server):
            return iter(())
        return self.outside_root(server, where, "move it under the model root, or set "
                                                "`allow_external_base_paths: true` on the server")


PROFILE = LocalProfile()


def _environment(record: Mapping[str, Any]) -> dict[str, str]:
    """A recorded server's environment: its plain values, and its secrets read again from
    tfsctl's environment (the record names their sources, never their values)."""
    env = {str(k): str(v) for k, v in dict(record.get("env") or {}).items()}
    for name, source in dict(record.get("secret_env") or {}).items():
        env[str(name)] = os.environ.get(str(source), "")
    return env


def _descends_from(pid: int, ancestor: int) -> bool:
    """Whether `pid` is `ancestor` or one of its descendants (a server's worker)."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


class Driver(RuntimeDriver):
    """The server's process, recorded in its state dir."""

    def __init__(self, target: RuntimeTarget):
        super().__init__(target)
        self._started: process.LocalProcess | None = None

    def observe(self, image: str) -> RuntimeState:
        found = process.observe(self.state_dir)
        if found is None:
            return RuntimeState(RuntimeStatus.MISSING)
        settings = found.record.get("settings")
        return RuntimeState(
            RuntimeStatus.RUNNING if found.alive else RuntimeStatus.STOPPED,
            config_hash=found.config_hash,
            settings=tuple(sorted(settings.items())) if isinstance(settings, dict) else None,
            identity=str(found.pid), detail="" if found.alive else f"pid {found.pid} is not running")

    def undo_for(self, step: Step) -> RuntimeUndo:
        before = process.observe(self.state_dir)
        if step is Step.CREATE or before is None:
            return RuntimeUndo(RuntimeUndoKind.REMOVE)
        return RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS, before.alive, dict(before.record))

    def _ports(self) -> dict[str, int]:
        return {"gRPC": self.target.grpc_port, "REST": self.target.rest_port}

    def _start(self, launch: Launch) -> None:
        ports.require_free(launch.bind_address, self._ports())
        plain = {k: v for k, v in launch.env.items() if k not in launch.secret_sources}
        self._started = process.start(
            self.state_dir, launch.args, launch.env, launch.config_hash,
            record={"env": plain, "secret_env": dict(launch.secret_sources),
                    "settings": dict(launch.settings)})

    def _start_recorded(self, record: Mapping[str, Any]) -> None:
        keep = {k: record[k] for k in ("env", "secret_env", "settings") if k in record}
        self._started = process.start(
            self.state_dir, tuple(str(a) for a in record.get("args") or ()),
            _environment(record), str(record.get("config_hash") or ""), record=keep)

    def check_started(self) -> None:
        started = self._started
        if started is None:
            running = process.observe(self.state_dir)
            if running is not None and not running.alive:
                raise ServerExited(f"the local server (pid {running.pid}) stopped while apply waited",
                                   f"its log ({running.log_file}) ends with:\n"
                                   + process.tail(self.state_dir, 8))
            return
        code = started.handle.poll()
        if code is not None:
            raise ServerExited(f"the local server exited while starting (exit code {code})",
                               f"its log ({started.log_file}) ends with:\n"
                               + process.tail(self.state_dir, 8))
        for name, port in self._ports().items():
            holder = ports.holder(port)
            if holder is not None and not _descends_from(holder, started.pid):
                raise ServerExited(f"{name} port {port} is answered by {ports.describe(holder)}, "
                                   f"not by the server apply started (pid {started.pid})",
                                   "stop that program; its answers are not this server's")

    def create(self, launch: Launch) -> None:
        process.stop(self.state_dir)  # a stale record, if any
        self._start(launch)

    def replace(self, launch: Launch) -> None:
        process.stop(self.state_dir)
        failpoint("during-replace")
        self._start(launch)

    restart = replace  # a process cannot re-read its flags: restarting is replacing

    def undo(self, undo: RuntimeUndo) -> None:
        process.stop(self.state_dir)
        if undo.kind is not RuntimeUndoKind.REMOVE and undo.was_running and undo.previous.get("args"):
            self._start_recorded(undo.previous)

    def commit(self, undo: RuntimeUndo) -> None:
        """Nothing is kept aside for a local server: the old process is gone already."""

    def revive(self) -> bool:
        recorded = process.observe(self.state_dir)
        if recorded is None or recorded.alive:
            return False
        self._start_recorded(recorded.record)
        return True

    def destroy(self) -> None:
        process.stop(self.state_dir)
