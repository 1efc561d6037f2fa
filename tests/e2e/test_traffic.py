"""The docker runtime behind its proxy, end to end, under a mixed load (REST keep-alive,
REST new connections, gRPC through the official stubs): no change may lose a request.

* a replace is blue/green: 0 failed requests;
* SIGTERM in the middle of a replace rolls back without losing a request either;
* a restarted proxy comes back routing to the server, with nothing for apply to do;
* a server whose container published the ports itself (made before the proxy) is
  migrated behind it by the next apply, which the plan says.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import docker
from tests.support.deployment import HALF_PLUS_TWO, Deployment, hpt_model
from tests.support.load import MixedLoad
from tests.support.net import wait_http
from tfsctl.runtimes.docker import PROXY_SETTING, container_name
from tfsctl.runtimes.engine.container_spec import SETTINGS_LABEL
from tfsctl.runtimes.proxy import proxy_name

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def docker_d(deployment: Deployment) -> Iterator[Deployment]:
    deployment.write([hpt_model([1], 1)], env={"ROLLOUT": "a"})
    deployment.apply()
    yield deployment


DOCKER = [pytest.param("docker", id="docker")]


#: the fewest requests a claim that none was lost stands on
MIN_SENT = 101


@contextlib.contextmanager
def load(d: Deployment) -> Iterator[MixedLoad]:
    """The mixed load on `stable` while the block runs, and on until it sent MIN_SENT."""
    stream = MixedLoad("127.0.0.1", d.rest, d.grpc, "hpt", "stable", [1.0], [2.5], rate=120)
    with stream:
        yield stream
        stream.wait_sent(MIN_SENT)


def _lost(stream: MixedLoad) -> str:
    report = stream.report()
    assert report["sent"] >= MIN_SENT, report
    return "" if report["failed"] == 0 else json.dumps(report, indent=1)


def _containers(d: Deployment) -> list[str]:
    client = docker.from_env()
    return sorted(c.name for c in client.containers.list(all=True)
                  if c.name.startswith(container_name(d.name)))


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_replace_under_load_loses_no_request(docker_d: Deployment) -> None:
    d = docker_d
    before = d.server_identity()
    d.write([hpt_model([1], 1)], env={"ROLLOUT": "b"})
    plan = d.tfsctl("plan", "-f", str(d.spec_file), check=True).stdout
    assert "blue/green behind the proxy" in plan and "env.ROLLOUT: a -> b" in plan, plan
    with load(d) as stream:
        d.apply()
    assert not _lost(stream), _lost(stream)
    assert d.server_identity() != before
    # green serves under the other name: blue is gone, nothing else is left
    assert set(_containers(d)) == {proxy_name(d.name), f"{container_name(d.name)}-b"}
    assert d.plan_exit_code() == 0


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_sigterm_mid_replace_loses_no_request(docker_d: Deployment) -> None:
    d = docker_d
    before = d.server_identity()
    d.write([hpt_model([1], 1)], env={"ROLLOUT": "b"})
    with load(d) as stream:
        apply = subprocess.Popen([sys.executable, "-m", "tfsctl.cli.main", "apply", "-f",
                                  str(d.spec_file), "--auto-approve"], cwd=d.root, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env={**os.environ, "NO_COLOR": "1"})
        assert apply.stderr is not None
        seen = []
        for line in apply.stderr:  # the event: apply waits for the green container
            seen.append(line)
            if "waiting" in line:
                apply.send_signal(signal.SIGTERM)
                break
        stderr = "".join(seen) + apply.communicate(timeout=300)[1]
    assert apply.returncode == 1, stderr
    assert "interrupted (Ctrl-C or SIGTERM)" in stderr and "NOT restored" not in stderr, stderr
    assert not _lost(stream), _lost(stream)
    assert d.server_identity() == before  # blue never stopped serving
    assert _containers(d) == [container_name(d.name), proxy_name(d.name)]


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_an_export_failing_while_green_starts_leaves_blue_serving(
        docker_d: Deployment, tmp_path: Path) -> None:
    """A replace exports while green starts (green takes no request before the switch):
    a source that does not load fails the export after green was started, and the rollback
    removes green and the half-built version; blue served all along."""
    d = docker_d
    before = d.server_identity()
    broken = tmp_path / "broken"
    shutil.copytree(HALF_PLUS_TWO, broken)
    (broken / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    model = hpt_model([1, 2], 1)
    model["versions"][2] = {"source": {"saved_model": str(broken)}}
    d.write([model], env={"ROLLOUT": "b"})
    with load(d) as stream:
        failed = d.apply(check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    out = failed.stderr
    assert out.index("replace:") < out.index("exporting hpt/2"), out  # green started first
    assert "does not load as a SavedModel" in out and "NOT restored" not in out, out
    assert not _lost(stream), _lost(stream)
    assert d.server_identity() == before
    assert _containers(d) == [container_name(d.name), proxy_name(d.name)]
    assert not (d.root / "models/hpt/2").exists()
    assert not list((d.root / "models/hpt").glob(".tfsctl-tmp-*"))


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_restarted_proxy_routes_to_the_server_again(docker_d: Deployment) -> None:
    d = docker_d
    d.write([hpt_model([1], 1)], env={"ROLLOUT": "b"})
    d.apply()  # the live container is now the one a replace renamed into place
    docker.from_env().containers.get(proxy_name(d.name)).restart(timeout=5)
    wait_http(f"http://127.0.0.1:{d.rest}/v1/models/hpt", timeout=60)
    assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
    assert d.plan_exit_code() == 0
    d.write([hpt_model([1], 1)], env={"ROLLOUT": "c"})
    with load(d) as stream:  # and the next replace still switches through it
        d.apply()
    assert not _lost(stream), _lost(stream)


def _as_before_the_proxy(d: Deployment) -> None:
    """Turn the server into what a tfsctl without the proxy made: one container publishing
    the spec's ports, stamped with settings that have no proxy."""
    client = docker.from_env()
    client.containers.get(proxy_name(d.name)).remove(force=True)
    old = client.containers.get(container_name(d.name))
    attrs: dict[str, Any] = old.attrs
    labels = dict(attrs["Config"]["Labels"])
    settings = json.loads(labels[SETTINGS_LABEL])
    settings.pop(PROXY_SETTING)
    labels[SETTINGS_LABEL] = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    labels["io.tfsctl.config-hash"] = "made-before-the-proxy"
    old.remove(force=True)
    client.containers.run(
        attrs["Config"]["Image"], attrs["Config"]["Cmd"], name=container_name(d.name),
        detach=True, environment=attrs["Config"]["Env"], labels=labels,
        mounts=[docker.types.Mount(m["Destination"], m["Source"], type="bind", read_only=True)
                for m in attrs["Mounts"]],
        ports={"8500/tcp": ("127.0.0.1", d.grpc), "8501/tcp": ("127.0.0.1", d.rest)})
    wait_http(f"http://127.0.0.1:{d.rest}/v1/models/hpt", timeout=120,
              ok=lambda r: "AVAILABLE" in r.text)


@pytest.mark.parametrize("deployment", DOCKER, indirect=True)
def test_a_server_made_before_the_proxy_is_migrated(docker_d: Deployment) -> None:
    d = docker_d
    _as_before_the_proxy(d)
    plan = d.tfsctl("plan", "-f", str(d.spec_file)).stdout
    assert "migrated behind tfsctl's proxy" in plan and "downtime" in plan.lower(), plan
    d.apply()
    assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
    assert d.plan_exit_code() == 0
    d.write([hpt_model([1], 1)], env={"ROLLOUT": "b"})
    with load(d) as stream:  # from now on, blue/green
        d.apply()
    assert not _lost(stream), _lost(stream)
