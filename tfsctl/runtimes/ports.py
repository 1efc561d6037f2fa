"""Is a port free on this machine, and if not, who holds it?

Checked before a server is started, so that a port taken by another program is
refused at once and by name ("REST port 8501 on 127.0.0.1 is already in use by
pid 1234 (python3 -m http.server)"), instead of a server that dies while apply
waits for it, or, worse, a stranger on the port answering in its place. The
holder is looked up in /proc (the listening socket's inode, then the process
with that inode open); where the system does not tell, the message says so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from ipaddress import ip_address
from pathlib import Path

from tfsctl.errors import TfsctlError

_LISTEN = "0A"  # TCP state in /proc/net/tcp*


def in_use(host: str, port: int) -> bool:
    """Whether binding `host:port` fails because something listens there (or on a wildcard)."""
    family = socket.AF_INET6 if ip_address(host).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def holder(port: int) -> int | None:
    """The pid of a process listening on `port`, when /proc tells (None otherwise)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(proc.name)
    return None


def describe(pid: int | None) -> str:
    if pid is None:
        return "another program (the system does not say which)"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"pid {pid}"
    return f"pid {pid} ({' '.join(command.split())[:120]})"  # one line, however it was started


class PortInUse(TfsctlError):
    """A port of the spec is taken by a program other than the server being replaced."""


def require_free(host: str, ports: dict[str, int]) -> None:
    """Raise PortInUse naming the first port (`{"gRPC": 8500, "REST": 8501}`) that is taken."""
    for name, port in ports.items():
        if in_use(host, port):
            raise PortInUse(f"{name} port {port} on {host} is already in use by {describe(holder(port))}",
                            "stop that program, or choose other ports in the spec")


def free_loopback_port() -> int:
    """A port nothing listens on at 127.0.0.1 now (the kernel's pick), for a listener that
    only tfsctl talks to."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
