"""`runtime: swarm` against a real engine: rollouts under load lose no request, a broken
update rolls back with the old tasks serving, and tasks on a second node are reached
through the proxy over the overlay network."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.support.deployment import Deployment, hpt_model
from tests.support.load import MixedLoad
from tests.support.swarm import Load, swarm_server

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _members(deploy: Deployment) -> list[dict[str, Any]]:
    result = deploy.tfsctl("status", "-f", str(deploy.spec_file), "--json", check=True)
    server = json.loads(result.stdout)["servers"][0]
    assert server["runtime"]["status"] == "running", server
    return list(server["runtime"]["members"])


def _rollout(deploy: Deployment, models: list[dict[str, Any]], **server: Any) -> str:
    """Apply a change under load; every request must succeed."""
    swarm_server(deploy, models, **server)
    with Load(f"http://127.0.0.1:{deploy.rest}/v1/models/hpt/labels/stable:predict") as load:
        applied = deploy.apply(check=False)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert load.ok > 0 and load.failures == [], (load.ok, load.failures[:5])
    return applied.stdout


def _grpc_status(deploy: Deployment) -> list[int]:
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{deploy.grpc}") as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "hpt"
        reply = stub.GetModelStatus(request, timeout=30)
    return sorted(v.version for v in reply.model_version_status)


def test_rollouts_lose_no_request_and_a_broken_update_rolls_back(
        swarm_deployment: Deployment) -> None:
    deploy = swarm_deployment
    swarm_server(deploy, [hpt_model([1], 1)])
    deploy.apply()
    members = _members(deploy)
    assert len(members) == 2 and all(m["state"] == "running" and m["current"] for m in members)
    assert deploy.predict("hpt", [1.0], "/labels/stable") == [2.5]
    assert _grpc_status(deploy) == [1]  # gRPC (HTTP/2) through the proxy

    plan = deploy.tfsctl("plan", "-f", str(deploy.spec_file), check=True).stdout
    assert "no changes" in plan
    swarm_server(deploy, [hpt_model([1, 2], 2)])
    plan = deploy.tfsctl("plan", "-f", str(deploy.spec_file), check=True).stdout
    assert "rolling update of 2 replica(s)" in plan and "downtime" not in plan.split("(")[0]

    # a version rollout and a replace (a flag changes), each under load
    _rollout(deploy, [hpt_model([1, 2], 2)])
    assert _grpc_status(deploy) == [1, 2]
    out = _rollout(deploy, [hpt_model([1, 2], 2)], flags={"max_num_load_retries": 0,
                                                     "file_system_poll_wait_seconds": 7})
    assert "flags: +--file_system_poll_wait_seconds=7" in out
    before = {m["name"]: m for m in _members(deploy)}

    # a broken update: the new tasks exit at once; Swarm rolls back, the old tasks serve on
    swarm_server(deploy, [hpt_model([1, 2], 2)], flags={"max_num_load_retries": 0, "no_such_flag": 1})
    with Load(f"http://127.0.0.1:{deploy.rest}/v1/models/hpt/labels/stable:predict") as load:
        failed = deploy.apply(check=False)
    assert failed.returncode != 0
    assert "rolled it back" in failed.stderr, failed.stderr
    assert load.ok > 0 and load.failures == [], (load.ok, load.failures[:5])
    after = _members(deploy)
    assert {m["name"] for m in after} == set(before)
    assert all(m["current"] and m["state"] == "running" for m in after), after
    assert deploy.plan_exit_code() == 2  # the broken change is still pending


def _updating(service: str) -> bool:
    import docker

    found = docker.from_env().services.get(service)
    return (found.attrs.get("UpdateStatus") or {}).get("State") == "updating"


def test_sigterm_mid_rollout_rolls_back_without_losing_a_request(
        swarm_deployment: Deployment) -> None:
    """A rollback is a rollout in reverse: apply sent SIGTERM while Swarm rolls the tasks
    must lose no request under mixed REST and gRPC load."""
    deploy = swarm_deployment
    swarm_server(deploy, [hpt_model([1], 1)])
    deploy.apply()
    swarm_server(deploy, [hpt_model([1], 1)], flags={"max_num_load_retries": 0,
                                                     "file_system_poll_wait_seconds": 7})
    with MixedLoad("127.0.0.1", deploy.rest, deploy.grpc, "hpt", "stable", [1.0], [2.5]) as load:
        apply = subprocess.Popen([sys.executable, "-m", "tfsctl.cli.main", "apply", "-f",
                                  str(deploy.spec_file), "--auto-approve"], cwd=deploy.root,
                                 text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={**os.environ, "NO_COLOR": "1"})
        assert apply.stderr is not None
        seen = []
        for line in apply.stderr:  # the event: apply starts the rolling update
            seen.append(line)
            if "] replace:" in line:
                break
        deadline = time.monotonic() + 120
        while not _updating(f"tfsctl-{deploy.name}") and time.monotonic() < deadline:
            time.sleep(0.1)
        apply.send_signal(signal.SIGTERM)
        stderr = "".join(seen) + apply.communicate(timeout=600)[1]
        load.wait_sent(101)  # the claim stands on enough requests, however fast the rollback
    assert apply.returncode == 1 and "interrupted" in stderr, stderr
    report = load.report()
    assert report["sent"] > 100 and report["failed"] == 0, report
    assert all(m["current"] and m["state"] == "running" for m in _members(deploy))


def _proxy_stats(server: str) -> list[dict[str, str]]:
    """HAProxy's per-server CSV statistics, read inside the proxy container (bash, /dev/tcp)."""
    script = ('exec 3<>/dev/tcp/127.0.0.1/8404; printf "GET /stats;csv HTTP/1.0\\r\\n\\r\\n" >&3; '
              "cat <&3")
    result = subprocess.run(["docker", "exec", f"tfsctl-{server}-proxy", "bash", "-c", script],
                            capture_output=True, text=True, timeout=60, check=True)
    lines = [line.strip() for line in result.stdout.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("# pxname,"))
    header = lines[start].lstrip("# ").split(",")
    return [dict(zip(header, line.split(","), strict=False))
            for line in lines[start + 1:] if "," in line]


def test_tasks_on_two_nodes_are_reached_through_the_proxy(
        swarm_worker: None, swarm_deployment: Deployment) -> None:
    deploy = swarm_deployment
    swarm_server(deploy, [hpt_model([1], 1)])
    deploy.apply()
    members = _members(deploy)
    assert len({m["where"] for m in members}) == 2, members  # one task on each node
    def rest_up() -> list[dict[str, str]]:
        return [row for row in _proxy_stats(deploy.name)
                if row["pxname"] == "rest" and row["svname"].startswith("task") and row["status"] == "UP"]

    # the proxy finds a new task at its next DNS resolution and health check: wait for that
    deadline = time.monotonic() + 120
    while len(rest_up()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    for _ in range(20):
        assert deploy.predict("hpt", [1.0]) == [2.5]
    rest = rest_up()
    assert len(rest) == 2, rest
    assert all(int(row["stot"]) > 0 for row in rest), rest  # both tasks answered requests
