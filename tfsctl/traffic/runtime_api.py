"""A client of HAProxy's Runtime API (the "stats socket"), over its UNIX socket.

One command per connection, as HAProxy's own `socat` examples do: the answer
ends when HAProxy closes the connection. The socket lives in a host directory
the proxy's container mounts (never a published port), so only whoever may
open that directory can steer traffic.
"""

from __future__ import annotations

import contextlib
import csv
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from tfsctl.errors import TfsctlError

#: How HAProxy's answers to a command it refused begin (a command that worked answers
#: nothing, or what it did).
_REFUSALS = ("Unknown command", "No such", "Require ", "Permission denied", "Invalid ", "Missing ")
#: A UNIX socket path longer than this cannot be connected to by name (sun_path).
_SUN_PATH_MAX = 100


class RuntimeApiError(TfsctlError):
    """The proxy's Runtime API could not be reached, or refused a command."""


@dataclass(frozen=True)
class ServerStat:
    """One server of one backend, from `show stat`."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, DRAIN, "no check"...
    sessions: int  # current sessions (requests in flight on it)
    address: str
    #: cumulative: requests sent to it, and those failed at the proxy (connection errors,
    #: broken answers, 5xx)
    total: int = 0
    failed: int = 0


def _count(row: dict[str, str], key: str) -> int:
    value = row.get(key) or "0"
    return int(value) if value.isdigit() else 0


class RuntimeApi:
    """The Runtime API of one HAProxy, at `socket_path` on this host."""

    def __init__(self, socket_path: Path, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        path = str(self.socket_path)
        if len(path) <= _SUN_PATH_MAX:
            sock.connect(path)
            return sock
        # a deep state dir: reach the socket through a short /proc path to its directory
        fd = os.open(self.socket_path.parent, os.O_PATH)
        try:
            sock.connect(f"/proc/self/fd/{fd}/{self.socket_path.name}")
        finally:
            os.close(fd)
        return sock

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's answer (stripped)."""
        try:
            with contextlib.closing(self._connect()) as sock:
                sock.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise RuntimeApiError(f"the proxy's Runtime API at {self.socket_path} did not answer "
                                  f"`{line.split()[0]} ...` ({exc.strerror or exc})",
                                  "is the proxy container running? see `docker logs` of it") from None
        answer = b"".join(chunks).decode(errors="replace").strip()
        if answer.startswith(_REFUSALS):
            raise RuntimeApiError(f"the proxy refused `{line}`: {answer}",
                                  "the proxy's configuration does not match this tfsctl: "
                                  "apply again to replace it")
        return answer

    def answers(self) -> bool:
        try:
            self.command("show info")
        except RuntimeApiError:
            return False
        return True

    def wait_answering(self, timeout: float) -> None:
        """Until the socket answers (a proxy that just started binds it a moment later)."""
        deadline = time.monotonic() + timeout
        while not self.answers():
            if time.monotonic() > deadline:
                self.command("show info")  # raises with the reason
            time.sleep(0.1)

    def set_state(self, backend: str, server: str, state: str) -> None:
        """`ready`, `drain` (no new requests, in-flight ones finish) or `maint`."""
        self.command(f"set server {backend}/{server} state {state}")

    def set_addr(self, backend: str, server: str, address: str, port: int) -> None:
        self.command(f"set server {backend}/{server} addr {address} port {port}")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        """The server's share of new requests, relative to the others' weights (0-256)."""
        self.command(f"set server {backend}/{server} weight {weight}")

    def health_up(self, backend: str, server: str) -> None:
        """Count the server as passing its checks now (apply has just verified it itself);
        the checks go on and take it out if it fails."""
        self.command(f"set server {backend}/{server} health up")

    def stats(self) -> list[ServerStat]:
        text = self.command("show stat")
        rows = csv.DictReader(text.lstrip("# ").splitlines())
        return [ServerStat(row["pxname"], row["svname"], row["status"], int(row["scur"] or 0),
                           row.get("addr") or "", _count(row, "stot"),
                           sum(_count(row, key) for key in ("econ", "eresp", "hrsp_5xx")))
                for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND", None)]

    def stat(self, backend: str, server: str) -> ServerStat:
        for found in self.stats():
            if (found.backend, found.server) == (backend, server):
                return found
        raise RuntimeApiError(f"the proxy has no server {backend}/{server}",
                              "apply again to replace the proxy")
