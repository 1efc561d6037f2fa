"""The local runtime: `tfsctl serve` as a managed background process.

For laptops and machines without Docker. The process is started detached (its
own session, so it outlives the tfsctl command), with a record in the
server's state dir: pid, arguments, the config hash it was started from, the
log file. Observation is read-only and checks that the pid still belongs to a
tfsctl server, so a stale pid file after a reboot reads as "stopped".
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tfsctl.errors import TfsctlError

RECORD = "server.json"
LOG = "server.log"


@dataclass(frozen=True)
class LocalProcessState:
    pid: int
    alive: bool
    args: tuple[str, ...]
    config_hash: str | None
    started_at: str
    log_file: str


def _alive(pid: int) -> bool:
    """True if `pid` runs and is a tfsctl server (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return b"tfsctl.serve" in cmdline and not zombie


def observe(state_dir: Path) -> LocalProcessState | None:
    try:
        data = json.loads((state_dir / RECORD).read_text())
        pid = int(data["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return LocalProcessState(pid, _alive(pid), tuple(data.get("args", ())), data.get("config_hash"),
                             str(data.get("started_at", "")), str(state_dir / LOG))


def start(state_dir: Path, args: tuple[str, ...], env: dict[str, str], config_hash: str
          ) -> LocalProcessState:
    state_dir.mkdir(parents=True, exist_ok=True)
    log = open(state_dir / LOG, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tfsctl.serve", *args], stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **env}, close_fds=True)
    finally:
        log.close()
    record = {"pid": process.pid, "args": list(args), "config_hash": config_hash,
              "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    from tfsctl.apply.atomic import write_atomic

    write_atomic(state_dir / RECORD, json.dumps(record, indent=2) + "\n")
    time.sleep(0.2)
    if process.poll() is not None:
        raise TfsctlError(f"the local server exited at once (code {process.returncode})",
                          f"see {state_dir / LOG}: " + tail(state_dir, 5))
    state = observe(state_dir)
    assert state is not None
    return state


def stop(state_dir: Path, timeout: float = 15.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; True if a process was stopped."""
    state = observe(state_dir)
    if state is None or not state.alive:
        with contextlib.suppress(FileNotFoundError):
            (state_dir / RECORD).unlink()
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
        while _alive(state.pid):
            time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        (state_dir / RECORD).unlink()
    return True


def tail(state_dir: Path, lines: int = 20) -> str:
    try:
        return "\n".join((state_dir / LOG).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
