"""How `tfsctl serve` learns that it must stop: SIGTERM or SIGINT, on whichever thread the
kernel hands it to.

A signal sent to a process goes to any of its threads that does not block it, and gRPC's,
TensorFlow's and uvicorn's threads do not. Python runs its handler on the main thread, but
only once that thread runs again: a main thread blocked on a lock (`Event.wait()`) is
interrupted only when the signal lands on it, so a SIGTERM taken by a worker thread would
leave the server running until it is killed. Here the interpreter also writes a byte to a
socket for every signal (`signal.set_wakeup_fd`, from whichever thread took it), and the
main thread waits in `select` on that socket: it wakes, runs the handler and stops.
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import threading

log = logging.getLogger("tfsctl.serve")


class Interrupted(Exception):
    """SIGTERM/SIGINT while TensorFlow and the server's modules are imported: nothing has
    started yet, so the handler may abort start-up at once (exit 0)."""


class StopSignals:
    """SIGTERM and SIGINT handlers, and `stop`, the event they set."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._importing = True
        self._reader, self._writer = socket.socketpair()
        for end in (self._reader, self._writer):
            end.setblocking(False)
        # installed before the handlers: no signal can be handled without its byte
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def started(self) -> None:
        """Imports are done and threads start: from now on a signal only sets `stop`."""
        self._importing = False

    def _on_signal(self, signum: int, frame: object) -> None:
        """Only while importing does the handler raise: once threads and servers start, an
        exception thrown into whatever the main thread runs (a lock, a log line, gRPC's
        start) would leave them half set up, so a signal then only sets `stop`, which the
        manager's waits and the start-up sequence check."""
        log.info("Received signal %d, shutting down", signum)
        self.stop.set()
        if self._importing:
            raise Interrupted

    def wait(self) -> None:
        """Block the main thread until a signal has set `stop` (at once if one already has)."""
        while not self.stop.is_set():
            select.select([self._reader], [], [])
            with contextlib.suppress(BlockingIOError):
                self._reader.recv(4096)
