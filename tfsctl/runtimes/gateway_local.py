"""A `runtime: local` server's gateways: `python -m tfsctl.gateway` processes.

Each gateway has a directory in its server's state dir, `gateways/<name>/`, holding the
current process (`current/`: pid, arguments, settings, log) and, while apply checks a
new one, the new process (`next/`). Both listen on the gateway's port (SO_REUSEPORT),
only the new one on its private verify port; promoting stops the current process
(uvicorn finishes what it is answering) and renames `next/` to `current/`. The handler
imports from tfsctl's own environment, so that environment must hold its requirements.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tfsctl.runtimes import ports, process
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget, ServerExited
from tfsctl.runtimes.gateway import MODULE, GatewayDriver, GatewayLaunch, GatewayProfile, GatewayState


class LocalGatewayProfile(GatewayProfile):
    noun = "process"


PROFILE = LocalGatewayProfile()


def state_of(found: process.LocalProcessState | None) -> GatewayState:
    """A recorded gateway process as a GatewayState."""
    if found is None:
        return GatewayState(RuntimeStatus.MISSING)
    settings = found.record.get("settings")
    return GatewayState(
        RuntimeStatus.RUNNING if found.alive else RuntimeStatus.STOPPED,
        config_hash=found.config_hash,
        settings=tuple(sorted(settings.items())) if isinstance(settings, dict) else None,
        handler_digest=found.record.get("handler_digest"), identity=str(found.pid),
        detail="" if found.alive else f"pid {found.pid} is not running")


class Driver(GatewayDriver):
    def __init__(self, target: RuntimeTarget, name: str):
        super().__init__(target, name)
        self._home = Path(target.state_dir) / "gateways" / name
        self._started: process.LocalProcess | None = None
        self._verify_port = 0

    @staticmethod
    def names(target: RuntimeTarget) -> tuple[str, ...]:
        try:
            found = sorted(Path(target.state_dir, "gateways").iterdir())
        except OSError:
            return ()
        return tuple(d.name for d in found if (d / "current").is_dir() or (d / "next").is_dir())

    @property
    def _current(self) -> Path:
        return self._home / "current"

    @property
    def _next(self) -> Path:
        return self._home / "next"

    def observe(self) -> GatewayState:
        current = process.observe(self._current, MODULE)
        if current is None:  # an apply stopped between promote's two steps
            current = process.observe(self._next, MODULE)
        return state_of(current)

    def start(self, launch: GatewayLaunch) -> None:
        self._stop(self._next)
        self._verify_port = ports.free_loopback_port()
        self._started = process.start(
            self._next, launch.args(launch.handler, self._verify_port), dict(launch.env),
            launch.config_hash, record={"settings": launch.settings(),
                                        "handler_digest": launch.handler_digest},
            module=MODULE)

    @property
    def verify_url(self) -> str:
        return f"http://127.0.0.1:{self._verify_port}"

    def check_started(self) -> None:
        if self._started is None:
            return
        code = self._started.handle.poll()
        if code is not None:
            raise ServerExited(f"its new process exited while starting (exit code {code}); "
                               "its log ends with:\n" + process.tail(self._next, 6),
                               "fix the handler and apply again")

    def _stop(self, where: Path) -> None:
        process.stop(where, module=MODULE)
        shutil.rmtree(where, ignore_errors=True)

    def promote(self) -> None:
        self._stop(self._current)
        os.replace(self._next, self._current)
        self._started = None

    def discard(self) -> None:
        self._stop(self._next)
        self._started = None

    def destroy(self) -> None:
        self._stop(self._next)
        self._stop(self._current)
        shutil.rmtree(self._home, ignore_errors=True)
