"""The docker runtime's `Driver` against a real engine, step by step as apply drives it:
observe, undo_for, create/replace/restart, undo or commit, revive, destroy.

The server is the base image's python3 -m http.server listening on the container's
REST port (8501) with the model root (mounted at /models) as its directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import SECRET, container_names, http_args, site, stamp, who
from tests.support.net import free_port, held_port, wait_http
from tfsctl.journal import RuntimeUndoKind
from tfsctl.runtimes.base import Launch, RuntimeStatus, RuntimeTarget, ServerExited, Step
from tfsctl.runtimes.bluegreen import NETWORK
from tfsctl.runtimes.docker import CONTAINER_MODEL_ROOT, CONTAINER_REST_PORT, Driver, container_name
from tfsctl.runtimes.engine.container_spec import SERVER_LABEL
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.engine.errors import PortInUse
from tfsctl.runtimes.proxy import proxy_name

pytestmark = pytest.mark.docker


def target(server: str, state_dir: Path, rest_port: int) -> RuntimeTarget:
    return RuntimeTarget(server, "docker", str(state_dir), "127.0.0.1", free_port(), rest_port)


def launch(image: str, root: Path, grpc_port: int, rest_port: int) -> Launch:
    config_hash, _ = stamp(image=image, model_root=str(root))
    return Launch(image=image, args=http_args(CONTAINER_REST_PORT, CONTAINER_MODEL_ROOT),
                  env={"GREETING": "hello", "API_TOKEN": SECRET}, bind_address="127.0.0.1",
                  grpc_port=grpc_port, rest_port=rest_port, model_root=str(root),
                  config_hash=config_hash, settings={"image": image, "model_root": str(root)})


def direct(driver: Driver) -> str:
    """Which site the container apply verifies answers with, bypassing the proxy."""
    return wait_http(f"{driver.verify_endpoint().rest}/who.txt", timeout=20).text


def test_create_observe_replace_undo_commit_destroy(base_image: str, unique: Callable[[str], str],
                                                    tmp_path: Path, docker_client: Any) -> None:
    server, rest = unique("driver"), free_port()
    driver = Driver(target(server, tmp_path, rest), Containers(docker_client))
    image_id = docker_client.images.get(base_image).id

    missing = driver.observe(base_image)
    assert missing.status is RuntimeStatus.MISSING and missing.wanted_image_id == image_id
    assert driver.undo_for(Step.CREATE).kind is RuntimeUndoKind.REMOVE

    first = launch(base_image, site(tmp_path, "a"), driver.target.grpc_port, rest)
    driver.create(first)
    assert who(rest) == "a"
    raw = docker_client.containers.get(container_name(server))
    state = driver.observe(base_image)
    assert state.status is RuntimeStatus.RUNNING and state.identity == raw.id and state.detail == ""
    assert state.config_hash == first.config_hash
    assert state.settings == tuple(sorted(first.settings.items()))
    assert state.image_id == state.wanted_image_id == image_id
    assert SECRET not in repr(state) and SECRET not in repr(first)
    # the model root is mounted read-only at /models; the proxy, not the server, publishes
    assert raw.labels[SERVER_LABEL] == server
    assert [(m["Source"], m["Destination"], m["RW"]) for m in raw.attrs["Mounts"]] == \
        [(first.model_root, CONTAINER_MODEL_ROOT, False)]
    assert not raw.attrs["HostConfig"]["PortBindings"]
    proxy = docker_client.containers.get(proxy_name(server))
    # every docker server shares one network: Docker's address pools hold only ~30 networks
    assert set(raw.attrs["NetworkSettings"]["Networks"]) == {NETWORK}
    assert set(proxy.attrs["NetworkSettings"]["Networks"]) == {NETWORK}
    assert proxy.attrs["HostConfig"]["PortBindings"] == {
        "8500/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(first.grpc_port)}],
        "8501/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(rest)}]}

    # replace: green answers directly, blue keeps the traffic until the switch; then undo
    undo = driver.undo_for(Step.REPLACE)
    assert undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS and undo.was_running
    second = launch(base_image, site(tmp_path, "b"), first.grpc_port, rest)
    driver.replace(second)
    assert direct(driver) == "b" and who(rest) == "a"
    assert driver.observe(base_image).identity == raw.id  # blue is still the server
    driver.switch(second)
    assert who(rest) == "b"
    driver.undo(undo)
    assert who(rest) == "a"
    back = driver.observe(base_image)
    assert back.identity == raw.id and back.config_hash == first.config_hash
    assert container_names(docker_client, container_name(server)) == [
        container_name(server), proxy_name(server)]

    # replace, switch, commit: blue is drained and gone, green serves under the other name
    undo = driver.undo_for(Step.REPLACE)
    driver = Driver(driver.target, Containers(docker_client))
    driver.replace(second)
    driver.switch(second)
    assert who(rest) == "b"
    driver.commit(undo)
    assert who(rest) == "b"
    green = f"{container_name(server)}-b"
    assert container_names(docker_client, container_name(server)) == [green, proxy_name(server)]
    replaced = driver.observe(base_image)
    assert replaced.identity != raw.id and replaced.config_hash == second.config_hash

    # restart: blue/green too (a restart in place would stop the only server)
    undo = driver.undo_for(Step.RESTART)
    assert undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS and undo.was_running
    driver.restart(second)
    driver.switch(second)
    driver.commit(undo)
    assert who(rest) == "b"
    assert driver.observe(base_image).identity != replaced.identity
    assert container_names(docker_client, container_name(server)) == [
        container_name(server), proxy_name(server)]  # back under the first name

    driver.destroy()
    assert driver.observe(base_image).status is RuntimeStatus.MISSING
    assert container_names(docker_client, container_name(server)) == []
    assert not [n.name for n in docker_client.networks.list() if server in n.name]


def test_undo_keeps_a_stopped_server_stopped_and_revive_starts_it(base_image: str,
                                                                  unique: Callable[[str], str],
                                                                  tmp_path: Path, docker_client: Any) -> None:
    server, rest = unique("stopped"), free_port()
    driver = Driver(target(server, tmp_path, rest), Containers(docker_client))
    first = launch(base_image, site(tmp_path, "a"), driver.target.grpc_port, rest)
    driver.create(first)
    assert who(rest) == "a"
    raw = docker_client.containers.get(container_name(server))
    raw.stop(timeout=2)

    stopped = driver.observe(base_image)
    assert stopped.status is RuntimeStatus.STOPPED and stopped.identity == raw.id
    assert stopped.detail.startswith("exited (exit ")

    undo = driver.undo_for(Step.REPLACE)
    assert undo.kind is RuntimeUndoKind.RESTORE_PREVIOUS and not undo.was_running
    driver.replace(launch(base_image, site(tmp_path, "b"), first.grpc_port, rest))
    assert direct(driver) == "b"
    driver.undo(undo)
    back = driver.observe(base_image)
    assert back.status is RuntimeStatus.STOPPED and back.identity == raw.id  # as it was

    assert driver.revive() is True
    assert who(rest) == "a"
    assert driver.revive() is False  # already running


def test_engine_unreachable_is_a_state_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    bogus = docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41", timeout=5)
    state = Driver(target("x", tmp_path, 1), Containers(bogus)).observe("img")
    assert state.status is RuntimeStatus.UNREACHABLE and "did not answer" in state.detail

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    lazy = Driver(target("x", tmp_path, 1))  # makes its client on first use
    assert lazy.observe("img").status is RuntimeStatus.UNREACHABLE


def test_a_held_port_is_refused_naming_its_holder(base_image: str, unique: Callable[[str], str],
                                                  tmp_path: Path, docker_client: Any) -> None:
    server = unique("held")
    with held_port() as rest:
        driver = Driver(target(server, tmp_path, rest), Containers(docker_client))
        with pytest.raises(PortInUse) as busy:
            driver.create(launch(base_image, site(tmp_path, "a"), driver.target.grpc_port, rest))
    assert f"REST port {rest} is already in use by pid {os.getpid()}" in busy.value.message
    assert SECRET not in busy.value.message + busy.value.hint
    assert container_names(docker_client, container_name(server)) == []


def test_check_started_reports_a_server_that_stopped(base_image: str, unique: Callable[[str], str],
                                                     tmp_path: Path, docker_client: Any) -> None:
    server, rest = unique("check"), free_port()
    driver = Driver(target(server, tmp_path, rest), Containers(docker_client))
    driver.create(launch(base_image, site(tmp_path, "a"), driver.target.grpc_port, rest))
    assert who(rest) == "a"
    driver.check_started()  # running, as started: nothing to say

    docker_client.containers.get(container_name(server)).stop(timeout=2)
    with pytest.raises(ServerExited, match="stopped while starting \\(exit code") as stopped:
        driver.check_started()
    # the end of its log (the proxy's health checks are in it too)
    assert "http/server.py" in stopped.value.hint or "GET /" in stopped.value.hint

    # a driver that did not start it only requires that it keeps running
    with pytest.raises(ServerExited, match="stopped while apply waited"):
        Driver(target(server, tmp_path, rest), Containers(docker_client)).check_started()
