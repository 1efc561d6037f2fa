"""The Docker engine layer (`Containers`) against a real engine, with a tiny server (the base
image's python3 -m http.server).

Each container serves a directory mounted read-only, so one GET proves the
ports, the mount and that the right container answers. The docker runtime's
`Driver`, which apply drives through these calls, is tested in test_driver.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.containers import (
    SECRET,
    container_names,
    http_spec,
    set_aside,
    site,
    started_at,
    who,
)
from tests.support.net import free_port, held_port
from tfsctl.failpoints import ENV as FAILPOINT_ENV
from tfsctl.runtimes.engine.container_spec import (
    CONFIG_HASH_LABEL,
    MANAGED_LABEL,
    SERVER_LABEL,
    SETTINGS_LABEL,
    ContainerSpec,
    ContainerStatus,
    ObservedContainer,
)
from tfsctl.runtimes.engine.containers import NEXT_INFIX, PREVIOUS_INFIX, Containers
from tfsctl.runtimes.engine.errors import (
    ContainerNotFound,
    DockerRuntimeError,
    EngineUnavailable,
    ImageNotFound,
    NameConflict,
    PortInUse,
)

pytestmark = pytest.mark.docker

MISSING_IMAGE = "tfsctl/does-not-exist:never"


def assert_no_secret(*errors: DockerRuntimeError) -> None:
    for error in errors:
        assert SECRET not in error.message and SECRET not in error.hint, error


def until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Wait for `condition` (polled) with a generous deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout}s"
        time.sleep(0.2)


def create_old(containers: Containers, image: str, tmp_path: Path, name: str, port: int) -> ObservedContainer:
    """The server's first container, serving the site "old" on `port`, observed once it answers."""
    containers.create(http_spec(name, image, site(tmp_path, "old"), port))
    assert who(port) == "old"
    old = containers.observe(name)
    assert old is not None
    return old


# --------------------------------------------------------------------------- create / observe


def test_create_observe_labels_and_limits(containers: Containers, base_image: str,
                                          unique: Callable[[str], str], tmp_path: Path,
                                          docker_client: Any) -> None:
    name, port = unique("create"), free_port()
    spec = http_spec(name, base_image, site(tmp_path, "one"), port, cpus=0.5, memory_bytes=128 << 20)
    assert containers.observe(name) is None

    containers.create(spec)
    assert who(port) == "one"

    raw = docker_client.containers.get(name)
    observed = containers.observe(name)
    assert observed is not None and observed.id == raw.id and observed.name == name
    assert observed.status is ContainerStatus.RUNNING and observed.running and observed.exit_code is None
    assert observed.config_hash == spec.config_hash
    assert observed.settings == json.loads(spec.settings)
    assert observed.image_id == docker_client.images.get(base_image).id
    assert SECRET not in repr(observed)

    assert raw.labels[MANAGED_LABEL] == "true"
    assert raw.labels[SERVER_LABEL] == name
    assert raw.labels[CONFIG_HASH_LABEL] == spec.config_hash
    assert raw.labels[SETTINGS_LABEL] == spec.settings
    config, host = raw.attrs["Config"], raw.attrs["HostConfig"]
    assert config["Cmd"] == list(spec.args)
    assert {"GREETING=hello", f"API_TOKEN={SECRET}"} <= set(config["Env"])  # the engine gets the value
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 128 << 20
    assert host["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # the mount is read-only inside
    result = raw.exec_run(["python3", "-c", "open('/site/new', 'w')"])
    assert result.exit_code != 0 and b"Read-only file system" in result.output


def test_observe_ignores_unmanaged_and_reports_exit(containers: Containers, base_image: str,
                                                    unique: Callable[[str], str], docker_client: Any) -> None:
    name = unique("unmanaged")
    # labelled with our server label but not "managed": not ours, never observed
    docker_client.containers.run(base_image, ["sleep", "60"], name=name, detach=True,
                                 labels={SERVER_LABEL: name})
    assert containers.observe(name) is None
    assert containers.remove(name) is False
    assert docker_client.containers.get(name).status == "running"  # never touched

    exiting = unique("exits")
    containers.create(ContainerSpec(exiting, exiting, base_image, ("sh", "-c", "exit 3"), (), (), (),
                                    config_hash="exits"))
    docker_client.containers.get(exiting).wait(timeout=30)
    # unless-stopped starts it again: a crash loop shows as a growing restart count
    until(lambda: (containers.observe(exiting) or pytest.fail("gone")).restart_count >= 1, "a restart")
    docker_client.containers.get(exiting).stop(timeout=1)  # keep unless-stopped from restarting it
    observed = containers.observe(exiting)
    assert observed is not None and observed.status is ContainerStatus.EXITED
    assert observed.exit_code == 3 and not observed.running


def test_image_id_of_present_and_missing_images(containers: Containers, base_image: str,
                                                docker_client: Any) -> None:
    assert containers.image_id(base_image) == docker_client.images.get(base_image).id
    assert containers.image_id(MISSING_IMAGE) is None


def test_restart_and_remove(containers: Containers, base_image: str, unique: Callable[[str], str],
                            tmp_path: Path, docker_client: Any) -> None:
    name, port = unique("life"), free_port()
    containers.create(http_spec(name, base_image, site(tmp_path, "life"), port))
    assert who(port) == "life"

    first = containers.observe(name)
    assert first is not None
    before = started_at(docker_client, first.id)
    containers.restart(name, timeout=2)
    again = containers.observe(name)
    assert again is not None and again.id == first.id and again.running
    assert started_at(docker_client, again.id) != before
    assert who(port) == "life"
    logs = containers.logs_tail(name, 20)
    assert "GET /who.txt" in logs and SECRET not in logs

    assert containers.remove(name, timeout=2) is True
    assert containers.observe(name) is None
    assert container_names(docker_client, name) == []
    assert containers.remove(name) is False
    assert containers.logs_tail(name) == ""
    with pytest.raises(ContainerNotFound) as info:
        containers.restart(name)
    assert "tfsctl apply" in info.value.hint


# --------------------------------------------------------------------------- errors


def test_create_errors_are_clear_and_leave_nothing(containers: Containers, base_image: str,
                                                  unique: Callable[[str], str], tmp_path: Path,
                                                  docker_client: Any) -> None:
    name = unique("errors")
    with pytest.raises(ImageNotFound) as missing:
        containers.create(http_spec(name, MISSING_IMAGE, tmp_path, free_port()))
    assert MISSING_IMAGE in missing.value.message
    assert "scripts/build_image.sh" in missing.value.hint

    with held_port() as port:
        with pytest.raises(PortInUse) as busy:
            containers.create(http_spec(name, base_image, tmp_path, port))
        assert "port" in busy.value.message
    assert containers.observe(name) is None
    assert container_names(docker_client, name) == []  # the container that could not start is gone

    with pytest.raises(DockerRuntimeError, match="does not exist") as nowhere:
        containers.create(http_spec(name, base_image, tmp_path / "nowhere", free_port()))
    assert "model root" in nowhere.value.hint
    assert container_names(docker_client, name) == []

    # a container tfsctl did not make holds the name: refused, and left alone
    docker_client.containers.run(base_image, ["sleep", "60"], name=name, detach=True)
    with pytest.raises(NameConflict) as conflict:
        containers.create(http_spec(name, base_image, tmp_path, free_port()))
    assert "docker rm" in conflict.value.hint
    with pytest.raises(NameConflict) as conflict_on_replace:
        containers.replace(http_spec(name, base_image, tmp_path, free_port()), stop_timeout=2)
    assert container_names(docker_client, name) == [name]
    stranger = docker_client.containers.get(name)
    assert stranger.status == "running" and MANAGED_LABEL not in stranger.labels

    assert_no_secret(missing.value, busy.value, nowhere.value, conflict.value, conflict_on_replace.value)


def test_engine_unreachable_is_engine_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    bogus = docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41", timeout=5)
    away = Containers(bogus)
    spec = http_spec("x", "img", tmp_path, 1)
    calls: dict[str, Callable[[], object]] = {
        "observe": lambda: away.observe("x"), "image_id": lambda: away.image_id("img"),
        "create": lambda: away.create(spec), "replace": lambda: away.replace(spec),
        "restore_previous": lambda: away.restore_previous("x"),
        "discard_previous": lambda: away.discard_previous("x"),
        "restart": lambda: away.restart("x"), "remove": lambda: away.remove("x"),
    }
    for what, call in calls.items():
        with pytest.raises(EngineUnavailable) as info:
            call()
        assert "did not answer" in info.value.message and "dockerd" in info.value.hint, what
        assert_no_secret(info.value)

    # the client is made from the environment on first use: constructing never fails, using does
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    lazy = Containers()
    with pytest.raises(EngineUnavailable):
        lazy.observe("x")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(EngineUnavailable):
        Containers().image_id("img")


# --------------------------------------------------------------------------- replace


def test_replace_then_discard_previous(containers: Containers, base_image: str,
                                       unique: Callable[[str], str], tmp_path: Path,
                                       docker_client: Any) -> None:
    name, port = unique("commit"), free_port()
    old = create_old(containers, base_image, tmp_path, name, port)

    new_spec = http_spec(name, base_image, site(tmp_path, "new"), port)
    containers.replace(new_spec, stop_timeout=2)
    assert who(port) == "new"
    current = containers.observe(name)
    assert current is not None and current.id != old.id and current.name == name and current.running
    assert current.config_hash == new_spec.config_hash
    assert current.settings == json.loads(new_spec.settings)
    # the old container is only stopped and renamed aside, until the caller commits
    aside = docker_client.containers.get(old.id)
    assert aside.name == f"{name}{PREVIOUS_INFIX}{old.id[:12]}" and aside.status == "exited"
    assert set_aside(docker_client, name) == [aside.name]

    assert containers.discard_previous(name) == 1
    assert containers.discard_previous(name) == 0
    assert set_aside(docker_client, name) == []
    # committed: nothing is left to go back to, and the new container stays
    assert containers.restore_previous(name) is False
    still = containers.observe(name)
    assert still is not None and still.id == current.id
    assert who(port) == "new"


def test_replace_then_restore_previous(containers: Containers, base_image: str,
                                       unique: Callable[[str], str], tmp_path: Path,
                                       docker_client: Any) -> None:
    name, port = unique("rollback"), free_port()
    old = create_old(containers, base_image, tmp_path, name, port)
    # the new one moves to another port and is not "healthy" as far as the caller cares
    new_port = free_port()
    containers.replace(http_spec(name, base_image, site(tmp_path, "new"), new_port), stop_timeout=2)
    assert who(new_port) == "new"

    assert containers.restore_previous(name) is True
    assert who(port) == "old"
    current = containers.observe(name)
    assert current is not None and current.id == old.id and current.name == name and current.running
    assert current.config_hash == old.config_hash
    assert set_aside(docker_client, name) == []
    assert container_names(docker_client, name) == [name]
    assert containers.restore_previous(name) is False


def test_restore_previous_keeps_a_stopped_container_stopped(containers: Containers, base_image: str,
                                                           unique: Callable[[str], str], tmp_path: Path,
                                                           docker_client: Any) -> None:
    name, port = unique("stopped"), free_port()
    old = create_old(containers, base_image, tmp_path, name, port)
    docker_client.containers.get(old.id).stop(timeout=2)
    containers.replace(http_spec(name, base_image, site(tmp_path, "new"), port), stop_timeout=2)
    assert who(port) == "new"

    assert containers.restore_previous(name, start=False) is True
    back = containers.observe(name)
    assert back is not None and back.id == old.id and back.name == name
    assert back.status is ContainerStatus.EXITED  # as it was: a rollback never starts what was stopped
    assert container_names(docker_client, name) == [name]


def test_replace_without_previous_container(containers: Containers, base_image: str,
                                            unique: Callable[[str], str], tmp_path: Path,
                                            docker_client: Any) -> None:
    name, port = unique("fresh"), free_port()
    containers.replace(http_spec(name, base_image, site(tmp_path, "fresh"), port), stop_timeout=2)
    assert who(port) == "fresh"
    assert set_aside(docker_client, name) == []
    # nothing was set aside, so there is nothing to restore (undoing a create is `remove`)
    assert containers.restore_previous(name) is False
    assert who(port) == "fresh"


def test_failed_replace_leaves_the_old_container_serving(containers: Containers, base_image: str,
                                                         unique: Callable[[str], str], tmp_path: Path,
                                                         docker_client: Any) -> None:
    name, port = unique("failed"), free_port()
    old = create_old(containers, base_image, tmp_path, name, port)
    before = started_at(docker_client, old.id)

    # fails before the old container is touched: it never even stops
    with pytest.raises(ImageNotFound) as missing:
        containers.replace(http_spec(name, MISSING_IMAGE, tmp_path, port))
    same = containers.observe(name)
    assert same is not None and same.id == old.id and same.running
    assert started_at(docker_client, old.id) == before
    assert container_names(docker_client, name) == [name]

    # fails at start (port taken): the old one is back under its name at once
    with held_port() as taken, pytest.raises(PortInUse) as busy:
        containers.replace(http_spec(name, base_image, site(tmp_path, "new"), taken), stop_timeout=2)
    back = containers.observe(name)
    assert back is not None and back.id == old.id and back.name == name and back.running
    assert who(port) == "old"
    assert container_names(docker_client, name) == [name]
    assert_no_secret(missing.value, busy.value)


_REPLACE = """
import json, sys
from tfsctl.runtimes.engine.containers import Containers
from tfsctl.runtimes.engine.container_spec import ContainerSpec, Mount, PortBinding
fields = json.loads(sys.argv[1])
fields.update(args=tuple(fields["args"]), env=(),
              ports=tuple(PortBinding(**p) for p in fields["ports"]),
              mounts=tuple(Mount(**m) for m in fields["mounts"]))
Containers().replace(ContainerSpec(**fields), stop_timeout=2)
"""


def _replace_and_die(spec: ContainerSpec) -> None:
    """Replace in another process that SIGKILLs itself once the old container is aside and the
    new one is staged (failpoint during-replace): no clean-up runs, as when a machine dies."""
    fields = {**dataclasses.asdict(spec), "env": []}
    result = subprocess.run([sys.executable, "-c", _REPLACE, json.dumps(fields)], capture_output=True,
                            text=True, timeout=120, env={**os.environ, FAILPOINT_ENV: "during-replace"})
    assert result.returncode == -signal.SIGKILL, result.stderr


def test_unfinished_replacement_recovered_from_engine_state(containers: Containers, base_image: str,
                                                            unique: Callable[[str], str], tmp_path: Path,
                                                            docker_client: Any) -> None:
    name, port = unique("crash"), free_port()
    old = create_old(containers, base_image, tmp_path, name, port)

    # killed in the middle: old container stopped and aside, the new one created, not started
    _replace_and_die(http_spec(name, base_image, site(tmp_path, "new"), port))
    assert docker_client.containers.get(old.id).name.startswith(name + PREVIOUS_INFIX)
    assert [n for n in container_names(docker_client, name) if NEXT_INFIX in n]
    fresh = Containers(docker_client)
    assert fresh.restore_previous(name) is True
    assert who(port) == "old"
    current = fresh.observe(name)
    assert current is not None and current.id == old.id
    assert container_names(docker_client, name) == [name]

    # replaced completely, then the process died before it could commit or roll back
    containers.replace(http_spec(name, base_image, site(tmp_path, "newer"), port), stop_timeout=2)
    assert who(port) == "newer"
    assert Containers(docker_client).restore_previous(name) is True
    assert who(port) == "old"
    assert Containers(docker_client).restore_previous(name) is False

    containers.replace(http_spec(name, base_image, site(tmp_path, "newest"), port), stop_timeout=2)
    newest = containers.observe(name)
    assert Containers(docker_client).discard_previous(name) == 1
    assert who(port) == "newest"
    assert newest is not None and container_names(docker_client, name) == [name]
    assert docker_client.containers.get(name).id == newest.id
