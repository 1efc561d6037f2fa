"""What an applied server exposes: ports on loopback unless the spec says otherwise (on
docker, published by its proxy alone), and
the model root mounted read-only, checked on the engine's own record of the container
and from inside it, and for the local runtime on the kernel's table of listening sockets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.reliability.tally import Tally
from tests.support.deployment import Deployment, hpt_model

pytestmark = pytest.mark.slow


def _inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", name], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)[0]


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on `port` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.docker
@pytest.mark.parametrize("bind, expected", [(None, "127.0.0.1"), ("0.0.0.0", "0.0.0.0")])
def test_docker_ports_and_mount(tmp_path: Path, tally: Tally, bind: str | None, expected: str) -> None:
    d = Deployment(root=tmp_path / "project", runtime="docker")
    d.root.mkdir()
    try:
        d.write([hpt_model([1], 1)], **({"bind_address": bind} if bind else {}))
        d.apply()
        # the proxy publishes the spec's ports; TF Serving's container publishes nothing
        container, proxy = _inspect(f"tfsctl-{d.name}"), _inspect(f"tfsctl-{d.name}-proxy")
        assert not container["HostConfig"]["PortBindings"], container["HostConfig"]["PortBindings"]
        bindings = [b for ports in proxy["HostConfig"]["PortBindings"].values() for b in ports]
        assert {b["HostIp"] for b in bindings} == {expected}, bindings
        assert {int(b["HostPort"]) for b in bindings} == {d.grpc, d.rest}, bindings
        [models] = [m for m in container["Mounts"] if m["Destination"] == "/models"]
        assert models["RW"] is False and models["Source"] == str((d.root / "models").resolve())
        touch = subprocess.run(["docker", "exec", f"tfsctl-{d.name}", "touch", "/models/x"],
                               capture_output=True, text=True)
        assert touch.returncode != 0 and "Read-only file system" in touch.stderr, touch.stderr
        assert not (d.root / "models" / "x").exists()
        tally.add("exposure checks (ports, read-only model root)")
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def test_local_server_listens_on_loopback_only(tmp_path: Path, tally: Tally) -> None:
    d = Deployment(root=tmp_path / "project", runtime="local")
    d.root.mkdir()
    try:
        d.write([hpt_model([1], 1)])
        d.apply()
        # 127.0.0.1, ::ffff:127.0.0.1 and ::1, as the kernel writes them
        loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
        for port in (d.grpc, d.rest):
            addresses = _listening_addresses(port)
            assert addresses and addresses <= loopback, (port, addresses)
        tally.add("exposure checks (ports, read-only model root)")
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
