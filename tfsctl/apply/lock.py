"""One apply per server at a time: an advisory lock in the server's state dir.

`flock` is released by the kernel when the process dies, so a killed apply
never leaves a stale lock behind. The lock file records who holds it, so the
second apply can say whom it is waiting for.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from tfsctl.errors import TfsctlError

LOCK_FILE = "apply.lock"
#: How long an apply waits, on its own, for a guardian that is undoing a killed apply:
#: that is seconds of work which the apply would otherwise have to do itself.
RECOVERY_WAIT_SECONDS = 120.0


class LockBusy(TfsctlError):
    """Another process holds the server's lock."""


class ServerLock:
    def __init__(self, state_dir: Path, server: str, wait_seconds: float = 0.0, role: str = "apply"):
        self.path = state_dir / LOCK_FILE
        self.server = server
        self.wait_seconds = wait_seconds
        self.role = role
        self._fd: int | None = None

    def _info(self) -> dict[str, object]:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _holder(self) -> str:
        info = self._info()
        if not info:
            return "another tfsctl process"
        return (f"pid {info.get('pid')} ({info.get('user')}@{info.get('host')}, "
                f"since {info.get('since')})")

    def __enter__(self) -> ServerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                recovering = self._info().get("role") == "recovery"
                if waited >= (max(self.wait_seconds, RECOVERY_WAIT_SECONDS) if recovering
                              else self.wait_seconds):
                    holder = self._holder()
                    os.close(fd)
                    raise LockBusy(
                        f"server {self.server!r} is being changed by {holder}",
                        "wait for that apply to finish, or pass --lock-timeout SECONDS "
                        "to wait for it") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "role": self.role, "user": getpass.getuser(), "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode())
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
