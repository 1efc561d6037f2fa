"""A Docker engine that can "go away" on cue, without stopping the real one.

A unix-socket proxy in front of the real engine's socket, for tfsctl only
(DOCKER_HOST points at it). It forwards HTTP requests one by one and counts
the ones that change something (not GET/HEAD); `cut_at=N` makes it vanish
when the N-th such request arrives, before forwarding it: that connection is
dropped and the socket removed, as if dockerd had died. `restore()` brings it
back. Other tests and the containers themselves are not affected.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"
_READ_ONLY = (b"GET", b"HEAD")


class EngineProxy:
    def __init__(self, path: Path, cut_at: int | None = None, upstream: str = ENGINE_SOCKET):
        self.path, self.cut_at, self.upstream = path, cut_at, upstream
        self.changes = 0  # mutating requests seen (forwarded or not)
        self.cut = threading.Event()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> EngineProxy:
        self.cut.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def restore(self) -> None:
        """The engine is back: no more cuts."""
        self.cut_at = None
        self.start()

    def stop(self) -> None:
        self.cut.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.close()
        self._connections.clear()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _accept(self, listener: socket.socket) -> None:
        while not self.cut.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.upstream)
        self._connections += [client, upstream]
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        reader = client.makefile("rb")
        while not self.cut.is_set():
            request = _read_request(reader)
            if request is None:
                break
            if request.split(b" ", 1)[0] not in _READ_ONLY:
                self.changes += 1
                if self.cut_at is not None and self.changes >= self.cut_at:
                    self.stop()
                    break
            try:
                upstream.sendall(request)
            except OSError:
                break
        with contextlib.suppress(OSError):
            client.close()
            upstream.close()


def _read_request(reader: object) -> bytes | None:
    """One HTTP/1.1 request (headers and a Content-Length body), or None at the end."""
    lines = []
    while True:
        line = reader.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    head = b"".join(lines)
    length = 0
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (reader.read(length) if length else b"")  # type: ignore[attr-defined]


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
