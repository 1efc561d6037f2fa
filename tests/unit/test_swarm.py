"""The swarm runtime's pure parts: its profile, the proxy's config, the task healthcheck
(real bash against a stand-in REST server on loopback), and what plans say about it."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.unit.plan_fixtures import DESIRED, live_server
from tfsctl.plan.diff import diff_server
from tfsctl.plan.model import DriftKind, HazardKind, ServerAction
from tfsctl.plan.render.json import plan_from_dict, plan_to_dict
from tfsctl.runtimes.base import Launch, Member, RuntimeState, RuntimeStatus
from tfsctl.runtimes.healthcheck import health_command
from tfsctl.runtimes.registry import profile
from tfsctl.runtimes.swarm import PROFILE, TASK_MODEL_CONFIG, _task_args, proxy_spec
from tfsctl.spec.model import Spec
from tfsctl.traffic.config import render_swarm, server_slots


def _spec(**server: Any) -> Spec:
    base: dict[str, Any] = {
        "name": "web", "runtime": "swarm", "replicas": 3, "model_root": "/srv/models",
        "models": [{"name": "hpt", "policy": {"specific": [1]}, "versions": {1: {}},
                    "labels": {"stable": 1}}]}
    return Spec.model_validate({"apiVersion": "tfsctl/v1", "servers": [{**base, **server}]})


def test_registry_maps_swarm_to_its_profile() -> None:
    assert profile("swarm") is PROFILE
    assert PROFILE.noun == "service"


def test_settings_hold_replicas_and_what_tasks_read_at_start() -> None:
    server = _spec(batching={"max_batch_size": 8}).servers[0]
    settings = PROFILE.settings(server, ())
    assert settings["replicas"] == 3
    assert settings["model_config"].startswith("sha256:")
    assert settings["files.batching.config"].startswith("sha256:")
    moved = _spec(models=[{"name": "hpt", "policy": {"specific": [1, 2]}, "versions": {1: {}, 2: {}},
                           "labels": {"stable": 2}}]).servers[0]
    assert PROFILE.settings(moved, ())["model_config"] != settings["model_config"]


def test_base_path_outside_the_root_is_refused() -> None:
    server = _spec(models=[{"name": "hpt", "base_path": "/elsewhere/hpt", "versions": {1: {}}}]).servers[0]
    findings = list(PROFILE.check(server, ("servers", 0)))
    assert len(findings) == 1 and "outside the model root" in findings[0].message


def test_tasks_read_model_config_from_their_own_config_file() -> None:
    args = ("--model_config_file=/models/model.config", "--enable_batching=true")
    assert _task_args(args) == (f"--model_config_file={TASK_MODEL_CONFIG}", "--enable_batching=true")


def test_proxy_config_discovers_balances_and_retries() -> None:
    text = render_swarm("tfsctl-web", 3, 8500, 8501)
    assert "nameserver docker 127.0.0.11:53" in text
    assert f"server-template task {server_slots(3)} tasks.tfsctl-web:8501\n" in text
    assert f"server-template task {server_slots(3)} tasks.tfsctl-web:8500 proto h2" in text
    assert "bind :8500 proto h2" in text
    assert "retry-on conn-failure" in text and "option redispatch" in text
    # scaling a small server leaves the proxy as it is; a large one gets room for the surge
    assert render_swarm("tfsctl-web", 2, 8500, 8501) == render_swarm("tfsctl-web", 7, 8500, 8501)
    assert server_slots(20) > 20 + 1


def _launch(**changes: Any) -> Launch:
    base = Launch(image="img", args=(), env={}, bind_address="127.0.0.1", grpc_port=8500,
                  rest_port=8501, model_root="/srv/models", replicas=2)
    return replace(base, **changes)


def test_proxy_container_publishes_the_spec_ports_on_the_overlay() -> None:
    spec = proxy_spec("web", _launch())
    assert spec.network == "tfsctl-web"
    assert {(p.host_ip, p.host_port) for p in spec.ports} == {("127.0.0.1", 8500), ("127.0.0.1", 8501)}
    assert proxy_spec("web", _launch(replicas=3)).config_hash == spec.config_hash
    assert proxy_spec("web", _launch(rest_port=9501)).config_hash != spec.config_hash


def _plan_for(spec: Spec, runtime: dict[str, Any], members: tuple[Member, ...] = ()) -> Any:
    server = spec.servers[0]
    live = live_server(server, {"runtime": runtime, "model_config": DESIRED,
                                "model_dirs": {"hpt": {"versions": [1]}},
                                "report": {"hpt": {1: "AVAILABLE"}}}, {})
    live = replace(live, runtime=replace(live.runtime, members=members))
    return diff_server(server, live, sources={}, secrets={})[0]


def test_a_changed_setting_is_a_rolling_update_without_downtime() -> None:
    plan = _plan_for(_spec(image="tfsctl/serve:next"),
                     {"status": "running", "config_hash": "old", "settings": {"image": "img:old"}})
    assert plan.action is ServerAction.REPLACE and plan.rolling and not plan.downtime
    assert plan.reasons[0].startswith("rolling update of 3 replica(s)")
    assert "image: img:old -> tfsctl/serve:next" in plan.reasons
    assert HazardKind.DOWNTIME not in {h.kind for h in plan.hazards}
    assert plan.label_steps == ()
    data = plan_to_dict(_wrap(plan))
    assert data["servers"][0]["rolling"] is True and data["servers"][0]["downtime"] is False
    assert plan_from_dict(data).servers[0] == plan


def test_a_port_change_stops_the_proxy_so_it_has_downtime() -> None:
    plan = _plan_for(_spec(ports={"grpc": 9500, "rest": 9501}),
                     {"status": "running", "config_hash": "old",
                      "settings": {"ports.grpc": 8500, "ports.rest": 8501}})
    assert plan.action is ServerAction.REPLACE and not plan.rolling and plan.downtime
    assert not plan.reasons[0].startswith("rolling")
    assert HazardKind.DOWNTIME in {h.kind for h in plan.hazards}
    assert plan.label_steps == ()  # the tasks still start with every label


def _wrap(server_plan: Any) -> Any:
    from tfsctl.plan.model import Plan

    return Plan(servers=(server_plan,), spec_file="s.yaml", spec_digest="d", environment=None,
                live_fingerprint="f")


def test_tasks_on_old_settings_or_restarting_are_drift() -> None:
    members = (Member("tfsctl-web.1", "node-a", "running"),
               Member("tfsctl-web.2", "node-b", "running", current=False),
               Member("tfsctl-web.3", "node-b", "starting", restarts=2, detail="task: non-zero exit (1)"))
    plan = _plan_for(_spec(), {"status": "running", "config_hash": DESIRED}, members)
    messages = [d.message for d in plan.drift if d.kind is DriftKind.MEMBER]
    assert messages == ["tfsctl-web.2 on node-b still runs the settings of an earlier apply (running)",
                        "tfsctl-web.3 on node-b failed and was restarted 2 time(s): task: non-zero "
                        "exit (1)"]
    assert RuntimeState(RuntimeStatus.RUNNING, members=members).members == members


# -- the task healthcheck, in bash, against a stand-in for TF Serving's REST status -------

class _Status(BaseHTTPRequestHandler):
    models: dict[str, Any] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = self.path.rsplit("/", 1)[-1]
        found = self.models.get(name)
        body = json.dumps(found if found is not None else {"error": "not found"}).encode()
        self.send_response(200 if found is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rest() -> Iterator[tuple[int, dict[str, Any]]]:
    models: dict[str, Any] = {}
    handler = type("Handler", (_Status,), {"models": models})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], models
    server.shutdown()
    server.server_close()


def _status(*states: str) -> dict[str, Any]:
    return {"model_version_status": [{"version": str(i + 1), "state": s,
                                      "status": {"error_code": "OK", "error_message": ""}}
                                     for i, s in enumerate(states)]}


def _health(port: int, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(health_command(port, str(config))), capture_output=True, text=True,
                          timeout=30)


def test_healthcheck_needs_every_version_of_every_model_available(
        rest: tuple[int, dict[str, Any]], tmp_path: Path) -> None:
    port, models = rest
    config = tmp_path / "model.config"
    config.write_text('model_config_list {\n  config {\n    name: "a"\n    base_path: "/models/a"\n'
                      '  }\n  config {\n    name: "b"\n    base_path: "/models/b"\n    '
                      'version_labels {\n      key: "stable"\n      value: 1\n    }\n  }\n}\n')
    models.update(a=_status("AVAILABLE"), b=_status("AVAILABLE", "LOADING"))
    result = _health(port, config)
    assert result.returncode == 1 and "b: a version is LOADING" in result.stdout
    models["b"] = _status("AVAILABLE", "AVAILABLE")
    result = _health(port, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AVAILABLE: a b" in result.stdout
    del models["a"]
    assert _health(port, config).returncode == 1  # 404: the task does not serve it
    models["a"] = {"model_version_status": []}
    assert "a: no version" in _health(port, config).stdout


def test_healthcheck_needs_every_version_the_config_names(
        rest: tuple[int, dict[str, Any]], tmp_path: Path) -> None:
    """A version still being exported is not in the status at all: a task that serves only
    version 1 of a config naming 1 and 2 (and labelling 3) must not take traffic yet."""
    from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy, render_text
    from tfsctl.spec.model_spec import PolicyKind

    port, models = rest
    config = tmp_path / "model.config"
    config.write_text(render_text([
        ModelEntry("a", "/models/a", "tensorflow", VersionPolicy(PolicyKind.SPECIFIC, 0, (1, 2)),
                   (("stable", 2),)),
        ModelEntry("b", "/models/b", "tensorflow", VersionPolicy(PolicyKind.LATEST, 1, ()),
                   (("canary", 3),))]))
    models.update(a=_status("AVAILABLE"), b=_status("AVAILABLE", "AVAILABLE", "AVAILABLE"))
    result = _health(port, config)
    assert result.returncode == 1 and "a: version 2 is not loaded yet" in result.stdout, result
    models["a"] = _status("AVAILABLE", "AVAILABLE")
    assert _health(port, config).returncode == 0
    models["b"] = _status("AVAILABLE", "AVAILABLE")  # version 3, labelled, is gone
    assert "b: version 3 is not loaded yet" in _health(port, config).stdout
    models["b"] = {"model_version_status": [
        {"version": "3", "state": "AVAILABLE", "status": {"error_code": "OK"}},
        {"version": "12", "state": "LOADING", "status": {"error_code": "OK"}}]}
    assert "b: a version is LOADING" in _health(port, config).stdout


def test_healthcheck_fails_without_a_server_or_a_config(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        config = tmp_path / "model.config"
        config.write_text('config {\n  name: "a"\n}\n')
        assert "refused" in _health(port, config).stdout
    assert "cannot read" in _health(port, tmp_path / "missing").stdout


# -- the driver's reading of the engine, against a stand-in SDK client ---------------------

class _FakeService:
    def __init__(self, labels: dict[str, str], tasks: list[dict[str, Any]]):
        self.id, self.name = "svc0123456789", "tfsctl-web"
        self.attrs = {"Spec": {"Labels": labels, "Mode": {"Replicated": {"Replicas": 2}}},
                      "UpdateStatus": {"State": "completed"}}
        self._tasks = tasks

    def tasks(self) -> list[dict[str, Any]]:
        return self._tasks


def _task(slot: int, state: str, desired: str, config_hash: str, created: str,
          error: str = "") -> dict[str, Any]:
    return {"ID": f"t{slot}{created}", "Slot": slot, "NodeID": "n1", "DesiredState": desired,
            "CreatedAt": created, "Status": {"State": state, "Err": error},
            "Spec": {"ContainerSpec": {"Labels": {"io.tfsctl.config-hash": config_hash}}}}


class _FakeClient:
    def __init__(self, manager: bool, services: list[_FakeService]):
        self._manager, self._services = manager, services
        self.services = self
        self.nodes = self
        self.images = self
        self.containers = self

    def info(self) -> dict[str, Any]:
        return {"Swarm": {"ControlAvailable": self._manager}}

    def list(self, **kwargs: Any) -> list[Any]:
        if "filters" in kwargs and "name" in kwargs["filters"]:
            return self._services
        if kwargs.get("all"):
            return []  # containers: no proxy
        return [type("Node", (), {"id": "n1", "attrs": {"Description": {"Hostname": "node-a"}}})()]

    def get(self, reference: str) -> Any:
        return type("Image", (), {"id": "sha256:abc"})()


def _driver(client: _FakeClient) -> Any:
    from tfsctl.runtimes.base import RuntimeTarget
    from tfsctl.runtimes.engine.containers import Containers
    from tfsctl.runtimes.swarm import Driver

    target = RuntimeTarget("web", "swarm", "/tmp/state", "127.0.0.1", 8500, 8501)
    return Driver(target, containers=Containers(client))


def test_an_engine_that_is_no_swarm_manager_is_unreachable_with_the_fix() -> None:
    state = _driver(_FakeClient(manager=False, services=[])).observe("img")
    assert state.status is RuntimeStatus.UNREACHABLE
    assert "scripts/swarm.sh init" in state.detail


def test_tasks_are_members_and_only_the_current_specs_failures_count() -> None:
    labels = {"io.tfsctl.managed": "true", "io.tfsctl.config-hash": "new",
              "io.tfsctl.settings": "{}"}
    tasks = [_task(1, "failed", "shutdown", "broken", "1"),  # a rolled-back update: history
             _task(1, "running", "running", "new", "2"),
             _task(2, "failed", "shutdown", "new", "3", "task: non-zero exit (1)"),
             _task(2, "running", "running", "old", "4")]
    state = _driver(_FakeClient(manager=True, services=[_FakeService(labels, tasks)])).observe("img")
    assert state.status is RuntimeStatus.STOPPED  # no proxy container
    assert state.detail == "2/2 tasks running; its proxy container is not running"
    assert state.members == (
        Member("tfsctl-web.1", "node-a", "running"),
        Member("tfsctl-web.2", "node-a", "running", current=False, restarts=1,
               detail="task: non-zero exit (1)"))
