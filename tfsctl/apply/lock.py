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


class ServerLock:
    def __init__(self, state_dir: Path, server: str, wait_seconds: float = 0.0):
        self.path = state_dir / LOCK_FILE
        self.server = server
        self.wait_seconds = wait_seconds
        self._fd: int | None = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "another tfsctl process"
        return (f"pid {info.get('pid')} ({info.get('user')}@{info.get('host')}, "
                f"since {info.get('since')})")

    def __enter__(self) -> ServerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder()
                    os.close(fd)
                    raise TfsctlError(
                        f"server {self.server!r} is being changed by {holder}",
                        "wait for that apply to finish, or pass --lock-timeout SECONDS "
                        "to wait for it") from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "user": getpass.getuser(), "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds")}).encode())
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
