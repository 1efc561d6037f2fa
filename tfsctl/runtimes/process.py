"""`tfsctl serve` as a managed background process (what the local runtime runs).

The process is started detached (its own session, so it outlives the tfsctl
command) with three files in the server's state dir: `server.pid`,
`server.log` (its stdout and stderr) and `server.json` (pid, arguments, and
what the runtime needs to start it again: plain environment, where its secrets
come from, config hash and settings; never secret values). Observation is
read-only, imports neither TensorFlow nor grpc, and checks that the pid
still belongs to a tfsctl server, so a stale record after a reboot or a
recycled pid reads as "not running" instead of failing or killing a
stranger.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tfsctl.atomic import write_atomic

#: the module a recorded process runs (the gateway's runtimes pass their own)
SERVE = "tfsctl.serve"
RECORD = "server.json"
PID = "server.pid"
LOG = "server.log"


@dataclass(frozen=True)
class LocalProcess:
    """A server this runtime started (`handle`: the child, to read its exit code)."""

    pid: int
    args: tuple[str, ...]
    started_at: str
    log_file: Path
    state_dir: Path
    handle: subprocess.Popen[bytes] = field(repr=False, compare=False)


@dataclass(frozen=True)
class LocalProcessState:
    """What the state dir says about the server, checked against the live process table."""

    pid: int
    alive: bool
    args: tuple[str, ...]
    config_hash: str | None
    started_at: str
    log_file: str
    #: the rest of the record: what starting the same server again takes (see `start`)
    record: dict[str, Any] = field(default_factory=dict, repr=False)


def _alive(pid: int, module: str = SERVE) -> bool:
    """True if `pid` runs `module` (not a recycled pid, not a zombie)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return module.encode() in cmdline and not zombie


def observe(state_dir: Path, module: str = SERVE) -> LocalProcessState | None:
    """The recorded server, or None when there is no (readable) record. Never raises."""
    try:
        data = json.loads((state_dir / RECORD).read_text())
        pid = int(data["pid"])
        args = tuple(str(a) for a in data.get("args", ()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return LocalProcessState(pid, _alive(pid, module), args, data.get("config_hash"),
                             str(data.get("started_at", "")), str(state_dir / LOG), data)


def start(state_dir: Path, args: tuple[str, ...] | list[str], env: Mapping[str, str] | None = None,
          config_hash: str = "", record: Mapping[str, Any] | None = None,
          module: str = SERVE) -> LocalProcess:
    """Start `python -m MODULE ARGS` detached. Whether it comes up is for the caller
    to watch (the exit code through `handle`).

    `record` is kept in server.json beside pid and arguments, for whoever starts the
    server again later (it must hold no secret value)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / LOG
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})}, close_fds=True)
    finally:
        log.close()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    written = {**(record or {}), "pid": process.pid, "args": list(args), "config_hash": config_hash,
               "started_at": started_at}
    write_atomic(state_dir / PID, f"{process.pid}\n")
    write_atomic(state_dir / RECORD, json.dumps(written, indent=2) + "\n")
    return LocalProcess(process.pid, tuple(args), started_at, log_path, state_dir, process)


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _forget(state_dir: Path) -> None:
    for name in (RECORD, PID):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()


def stop(state_dir: Path, timeout: float = 15.0, module: str = SERVE) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if a running server was stopped."""
    state = observe(state_dir, module)
    if state is None or not state.alive:
        _forget(state_dir)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(state.pid)
        if not _alive(state.pid, module):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)
        while _alive(state.pid, module):
            _reap(state.pid)
            time.sleep(0.05)
    _forget(state_dir)
    return True


def tail(state_dir: Path, lines: int = 20) -> str:
    try:
        return "\n".join((state_dir / LOG).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
