"""The traffic layer's pure parts and its Runtime API client, against a stand-in socket:
the blue/green proxy config, the commands a switch, a drain and the way back send, and
the engine's iptables failure named for what it is."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from tfsctl.runtimes.engine.errors import FirewallChainMissing, api_error
from tfsctl.traffic.config import SOCKET_DIR, SOCKET_NAME, BlueGreen, render_blue_green
from tfsctl.traffic.runtime_api import RuntimeApi, RuntimeApiError
from tfsctl.traffic.switch import drain, hold, route, split

HEADER = "# pxname,svname,qcur,qmax,scur,addr,status"


class FakeHaproxy(socketserver.ThreadingUnixStreamServer):
    """Answers one command per connection as HAProxy's stats socket does; `sessions` is
    what `show stat` reports for each server (counting down once drained)."""

    def __init__(self, path: Path):
        self.commands: list[str] = []
        self.sessions = {"a": 2, "b": 0}
        self.extra = "", ""  # more columns of `show stat`: names, and each row's values
        super().__init__(str(path), _Handler)

    def answer(self, line: str) -> str:
        self.commands.append(line)
        if line == "show stat":
            rows = [HEADER + self.extra[0]] + [
                f"{b},{s},0,0,{n},10.0.0.{i}:8501,UP{self.extra[1]}" for b in ("rest", "grpc")
                for i, (s, n) in enumerate(self.sessions.items())]
            if any("a state drain" in c for c in self.commands):
                self.sessions["a"] = max(0, self.sessions["a"] - 1)
            return "\n".join(rows) + "\n"
        if line.startswith("set server nosuch/"):
            return "No such backend.\n"
        return "\n"


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode().strip()
        self.wfile.write(self.server.answer(line).encode())  # type: ignore[attr-defined]


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[tuple[FakeHaproxy, RuntimeApi]]:
    # deeper than a UNIX socket path may be: the client must reach it all the same
    where = tmp_path.joinpath(*["d" * 20] * 5)
    where.mkdir(parents=True)
    server = FakeHaproxy(where / SOCKET_NAME) if len(str(where)) < 100 else None
    if server is None:  # bind through a short path to the same directory
        import os

        fd = os.open(where, os.O_PATH)
        try:
            server = FakeHaproxy(Path(f"/proc/self/fd/{fd}/{SOCKET_NAME}"))
        finally:
            os.close(fd)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, RuntimeApi(where / SOCKET_NAME)
    finally:
        server.shutdown()
        server.server_close()


def test_the_blue_green_config_has_two_slots_and_an_unpublished_admin_socket() -> None:
    text = render_blue_green(BlueGreen("tfsctl-web", "tfsctl-web-b", 8500, 8501, 1000))
    assert f"stats socket {SOCKET_DIR}/{SOCKET_NAME} mode 600 uid 1000 level admin" in text
    assert "    server a tfsctl-web:8501\n    server b tfsctl-web-b:8501\n" in text
    assert "    server a tfsctl-web:8500 proto h2\n    server b tfsctl-web-b:8500 proto h2\n" in text
    # a restarted proxy resolves the containers at once; a missing name is no error
    assert "init-addr last,libc,none resolvers docker" in text
    binds = [line.split()[1] for line in text.splitlines() if line.strip().startswith("bind ")]
    assert binds == ["127.0.0.1:8404", ":8501", ":8500"]  # the socket is not a port


def test_hold_route_and_drain_send_the_runtime_api_commands(
        haproxy: tuple[FakeHaproxy, RuntimeApi]) -> None:
    server, api = haproxy
    ports = {"rest": 8501, "grpc": 8500}
    hold(api, "b")
    assert server.commands == ["set server rest/b state maint", "set server grpc/b state maint"]
    server.commands.clear()
    route(api, "b", "a", "10.0.0.9", ports)
    assert server.commands == [
        "set server rest/b addr 10.0.0.9 port 8501", "set server rest/b weight 100",
        "set server rest/b state ready", "set server rest/b health up",
        "set server grpc/b addr 10.0.0.9 port 8500", "set server grpc/b weight 100",
        "set server grpc/b state ready", "set server grpc/b health up",
        "set server rest/a state drain", "set server grpc/a state drain"]
    server.commands.clear()
    assert drain(api, "a", timeout=60) is True  # waited for its 2 sessions to end
    assert server.commands.count("show stat") >= 2
    assert server.commands[-2:] == ["set server rest/a state maint",
                                    "set server grpc/a state maint"]
    server.commands.clear()
    route(api, "a", "b", None, ports)  # the way back keeps the address the proxy has
    assert not any(" addr " in c for c in server.commands)


def test_a_canary_split_sets_both_weights_before_the_canary_takes_requests(
        haproxy: tuple[FakeHaproxy, RuntimeApi]) -> None:
    server, api = haproxy
    split(api, "b", "a", 20, "10.0.0.9", {"rest": 8501, "grpc": 8500})
    for backend in ("rest", "grpc"):
        mine = [c for c in server.commands if c.startswith(f"set server {backend}/")]
        assert mine[:2] == [f"set server {backend}/a weight 80", f"set server {backend}/b weight 20"]
        assert mine.index(f"set server {backend}/b state ready") > 1
    assert not any("a state" in c for c in server.commands), "stable stays as it was"


def test_show_stat_gives_each_servers_requests_and_proxy_errors(
        haproxy: tuple[FakeHaproxy, RuntimeApi]) -> None:
    server, api = haproxy
    server.extra = ",stot,econ,eresp,hrsp_5xx", ",40,1,2,3"
    found = api.stat("rest", "a")
    assert (found.total, found.failed) == (40, 6)


def test_a_refused_command_and_an_absent_proxy_are_errors(
        haproxy: tuple[FakeHaproxy, RuntimeApi], tmp_path: Path) -> None:
    _, api = haproxy
    with pytest.raises(RuntimeApiError, match="refused .*No such backend"):
        api.set_state("nosuch", "live", "ready")
    gone = RuntimeApi(tmp_path / "none" / SOCKET_NAME, timeout=1)
    assert gone.answers() is False
    with pytest.raises(RuntimeApiError, match="did not answer"):
        gone.command("show info")


def test_a_flushed_iptables_chain_is_named_with_its_fix() -> None:
    exc = SimpleNamespace(status_code=500, explanation=(
        "driver failed programming external connectivity on endpoint tfsctl-web-proxy: "
        "(iptables failed: iptables --wait -t nat -A DOCKER -p tcp -d 127.0.0.1 --dport 8501 "
        "-j DNAT --to-destination 172.18.0.2:8501 ! -i br-1: iptables: No chain/target/match "
        "by that name.\n (exit status 1))"))
    error = api_error("start container tfsctl-web-proxy", exc, "tfsctl/haproxy:dev")
    assert isinstance(error, FirewallChainMissing)
    assert "the engine's iptables chain is gone" in error.message
    assert "restart the Docker daemon" in error.hint and "DOCKER_HOST" not in error.hint


def test_an_engine_out_of_address_pools_is_named_with_its_fix() -> None:
    exc = SimpleNamespace(status_code=400, explanation=(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to "
        "assign to the network"))
    error = api_error("create network tfsctl", exc, None)
    assert "no address range left for another network" in error.message
    assert "docker network prune" in error.hint and "default-address-pools" in error.hint
