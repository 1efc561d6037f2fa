"""Local-runtime behaviours that were wrong: IPv6 bind addresses, and a server restored by
a rollback losing its environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.support.deployment import HALF_PLUS_TWO, Deployment

pytestmark = pytest.mark.slow

MODEL = {"name": "hpt", "versions": {1: {"source": {"saved_model": str(HALF_PLUS_TWO)}}},
         "smoke": [{"request": {"instances": [1.0]}, "expect": {"predictions": [2.5]}}]}


def test_an_ipv6_loopback_bind_address_serves(tmp_path: Path) -> None:
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    d.write([MODEL], bind_address="::1")
    try:
        d.apply("--timeout", "300")
        answer = requests.post(f"http://[::1]:{d.rest}/v1/models/hpt:predict",
                               json={"instances": [1.0, 2.0, 5.0]}, timeout=30)
        assert answer.json()["predictions"] == [2.5, 3.0, 4.5]
        assert d.plan_exit_code() == 0
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_a_server_restored_by_rollback_keeps_its_environment(tmp_path: Path) -> None:
    d = Deployment(root=tmp_path / "p", runtime="local")
    d.root.mkdir()
    secrets = {"TFSCTL_TEST_TOKEN_SOURCE": "tok-123"}
    d.write([MODEL], env={"GREETING": "hello"}, secret_env={"API_TOKEN": "TFSCTL_TEST_TOKEN_SOURCE"})
    try:
        d.apply(env=secrets)
        record = d.root / "models/.tfsctl/server.json"
        first = json.loads(record.read_text())
        assert "tok-123" not in record.read_text(), "secret values are never written"
        # a replace (new flag) whose smoke request fails: the previous process comes back
        broken = dict(MODEL, smoke=[{"request": {"instances": [1.0]}, "expect": {"predictions": [0.0]}}])
        d.write([broken], env={"GREETING": "hello"}, secret_env={"API_TOKEN": "TFSCTL_TEST_TOKEN_SOURCE"},
                flags={"max_num_load_retries": 0, "file_system_poll_wait_seconds": 2})
        failed = d.apply(check=False, env=secrets)
        assert failed.returncode == 1 and "previous server" in failed.stderr, failed.stderr
        restored = json.loads(record.read_text())
        assert restored["pid"] != first["pid"] and restored["config_hash"] == first["config_hash"]
        env = _environ(restored["pid"])
        assert env.get("GREETING") == "hello" and env.get("API_TOKEN") == "tok-123"
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
