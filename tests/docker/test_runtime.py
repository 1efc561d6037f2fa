"""DockerRuntime against a real engine, with a tiny server (the base image's python3 -m http.server).

Each container serves a directory mounted read-only, so one GET proves the
ports, the mount and that the right container answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tfsctl.runtimes.docker import (
    CONFIG_HASH_LABEL,
    MANAGED_LABEL,
    SERVER_LABEL,
    ContainerNotFound,
    ContainerSpec,
    ContainerStatus,
    DockerRuntime,
    DockerRuntimeError,
    EngineUnavailable,
    ImageNotFound,
    Mount,
    NameConflict,
    PortBinding,
    PortInUse,
    ReplacementError,
)

from .conftest import free_port, wait_http

pytestmark = pytest.mark.docker

SECRET = "s3cr3t-value-never-printed"


def site(tmp_path: Path, text: str) -> Path:
    root = tmp_path / f"site-{text}"
    root.mkdir()
    (root / "who.txt").write_text(text)
    return root


def http_spec(name: str, image: str, root: Path, port: int, **extra: Any) -> ContainerSpec:
    fields: dict[str, Any] = {
        "name": name, "server": name, "image": image,
        "args": ("python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", "/site"),
        "env": (("GREETING", "hello"), ("API_TOKEN", SECRET)),
        "ports": (PortBinding(8000, "127.0.0.1", port),),
        "mounts": (Mount(str(root), "/site", read_only=True),),
    }
    fields.update(extra)
    return ContainerSpec(**fields)


def who(port: int, timeout: float = 20) -> str:
    return wait_http(f"http://127.0.0.1:{port}/who.txt", timeout=timeout).text


# --------------------------------------------------------------------------- config hash


def test_config_hash_is_canonical_and_covers_every_field(tmp_path: Path) -> None:
    spec = http_spec("a", "img", tmp_path, 1)
    assert len(spec.config_hash()) == 64
    # order of env/ports/mounts means nothing to the engine, so nothing to the hash
    shuffled = http_spec("a", "img", tmp_path, 1, env=tuple(reversed(spec.env)))
    assert shuffled.config_hash() == spec.config_hash()
    assert http_spec("a", "img", tmp_path, 1, env=dict(spec.env)).config_hash() == spec.config_hash()
    changed = [
        http_spec("b", "img", tmp_path, 1), http_spec("a", "img2", tmp_path, 1),
        http_spec("a", "img", tmp_path, 2), http_spec("a", "img", tmp_path / "x", 1),
        http_spec("a", "img", tmp_path, 1, args=("sleep", "1")),
        http_spec("a", "img", tmp_path, 1, env=(("API_TOKEN", "other"),)),
        http_spec("a", "img", tmp_path, 1, cpus=0.5),
        http_spec("a", "img", tmp_path, 1, memory_bytes=1 << 26),
        http_spec("a", "img", tmp_path, 1, mounts=(Mount(str(tmp_path), "/site", read_only=False),)),
    ]
    hashes = {c.config_hash() for c in changed} | {spec.config_hash()}
    assert len(hashes) == len(changed) + 1
    # a caller may pin the label to its own hash (DesiredRuntime's, which plan compares)
    assert http_spec("a", "img", tmp_path, 1, config_hash="pinned").config_hash() == "pinned"


def test_config_hash_is_stable_across_processes(tmp_path: Path) -> None:
    code = ("from tfsctl.runtimes.docker import *\n"
            "print(ContainerSpec('n', 's', 'i', ['a', 'b'], {'K': 'v', 'A': 'z'}, "
            "[PortBinding(1, '127.0.0.1', 2)], [Mount('/x', '/y')], 1.5, 10).config_hash())")
    here = ContainerSpec("n", "s", "i", ["a", "b"], {"A": "z", "K": "v"}, [PortBinding(1, "127.0.0.1", 2)],
                         [Mount("/x", "/y")], 1.5, 10).config_hash()
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"})
        assert out.stdout.strip() == here


def test_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    spec = http_spec("a", "img", tmp_path, 1)
    assert SECRET not in repr(spec) and SECRET not in str(spec)


# --------------------------------------------------------------------------- create / observe


def test_create_observe_labels_and_limits(runtime: DockerRuntime, base_image: str,
                                          unique: Callable[[str], str], tmp_path: Path,
                                          docker_client: Any) -> None:
    name, port = unique("create"), free_port()
    spec = http_spec(name, base_image, site(tmp_path, "one"), port, cpus=0.5, memory_bytes=128 << 20)
    assert runtime.observe(name) is None

    created = runtime.create(spec)
    assert who(port) == "one"

    observed = runtime.observe(name)
    assert observed is not None and observed.id == created.id
    assert observed.name == name and observed.server == name and observed.image == base_image
    assert observed.status is ContainerStatus.RUNNING and observed.running and not observed.aside
    assert observed.config_hash == spec.config_hash()
    assert observed.args == spec.args
    assert set(spec.env) <= set(observed.env)
    assert observed.ports == spec.ports
    assert observed.mounts == spec.mounts
    assert observed.exit_code is None and observed.started_at
    assert SECRET not in repr(observed)

    raw = docker_client.containers.get(observed.id)
    assert raw.labels[MANAGED_LABEL] == "true"
    assert raw.labels[SERVER_LABEL] == name
    assert raw.labels[CONFIG_HASH_LABEL] == spec.config_hash()
    host = raw.attrs["HostConfig"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 128 << 20
    # the mount is read-only inside
    result = raw.exec_run(["python3", "-c", "open('/site/new', 'w')"])
    assert result.exit_code != 0 and b"Read-only file system" in result.output

    assert any(c.name == name for c in runtime.observe_all())


def test_observe_ignores_unmanaged_and_reports_exit(runtime: DockerRuntime, base_image: str,
                                                    unique: Callable[[str], str], docker_client: Any) -> None:
    name = unique("unmanaged")
    # labelled with our server label but not "managed": not ours, never observed
    docker_client.containers.run(base_image, ["sleep", "60"], name=name, detach=True,
                                 labels={SERVER_LABEL: name})
    assert runtime.observe(name) is None
    assert all(c.name != name for c in runtime.observe_all())

    exiting = unique("exits")
    runtime.create(ContainerSpec(exiting, exiting, base_image, ("sh", "-c", "exit 3"), (), (), ()))
    docker_client.containers.get(exiting).wait(timeout=30)
    docker_client.containers.get(exiting).stop(timeout=1)  # keep unless-stopped from restarting it
    observed = runtime.observe(exiting)
    assert observed is not None and observed.status is ContainerStatus.EXITED
    assert observed.exit_code == 3 and not observed.running


def test_restart_logs_remove(runtime: DockerRuntime, base_image: str, unique: Callable[[str], str],
                             tmp_path: Path) -> None:
    name, port = unique("life"), free_port()
    runtime.create(http_spec(name, base_image, site(tmp_path, "life"), port))
    assert who(port) == "life"
    assert "GET /who.txt" in runtime.logs_tail(name, lines=20)
    assert SECRET not in runtime.logs_tail(name)

    first = runtime.observe(name)
    runtime.restart(name, timeout=2)
    again = runtime.observe(name)
    assert again is not None and first is not None
    assert again.id == first.id and again.started_at != first.started_at
    assert who(port) == "life"

    assert runtime.remove(name, timeout=2) is True
    assert runtime.observe(name) is None
    assert runtime.remove(name) is False
    assert runtime.logs_tail(name) == ""
    with pytest.raises(ContainerNotFound):
        runtime.restart(name)


def test_image_exists(runtime: DockerRuntime, base_image: str) -> None:
    assert runtime.image_exists(base_image)
    assert not runtime.image_exists("tfsctl/does-not-exist:never")


# --------------------------------------------------------------------------- errors


def test_create_errors_are_clear_and_leave_nothing(runtime: DockerRuntime, base_image: str,
                                                  unique: Callable[[str], str], tmp_path: Path,
                                                  docker_client: Any) -> None:
    name = unique("errors")
    with pytest.raises(ImageNotFound) as missing:
        runtime.create(http_spec(name, "tfsctl/does-not-exist:never", tmp_path, free_port()))
    assert "scripts/build_image.sh" in missing.value.hint

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as busy:
            runtime.create(http_spec(name, base_image, tmp_path, port))
        assert "port" in busy.value.message
    assert runtime.observe(name) is None
    assert not docker_client.containers.list(all=True, filters={"name": name})

    with pytest.raises(DockerRuntimeError, match="does not exist"):
        runtime.create(http_spec(name, base_image, tmp_path / "nowhere", free_port()))

    docker_client.containers.run(base_image, ["sleep", "60"], name=name, detach=True)
    with pytest.raises(NameConflict):
        runtime.create(http_spec(name, base_image, tmp_path, free_port()))

    for error in (missing.value, busy.value):
        assert SECRET not in error.message and SECRET not in error.hint


def test_engine_unreachable_is_an_error_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker

    bogus = docker.DockerClient(base_url=f"unix://{tmp_path}/no-engine.sock", version="1.41", timeout=5)
    runtime = DockerRuntime(bogus)
    for call in (lambda: runtime.observe("x"), runtime.observe_all, lambda: runtime.image_exists("x"),
                 lambda: runtime.remove("x"), runtime.ping):
        with pytest.raises(EngineUnavailable) as info:
            call()
        assert "did not answer" in info.value.message and "dockerd" in info.value.hint

    # lazily made client from the environment: constructing never fails, using does
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    lazy = DockerRuntime()
    with pytest.raises(EngineUnavailable):
        lazy.observe("x")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(EngineUnavailable):
        DockerRuntime().observe_all()


# --------------------------------------------------------------------------- replace


def _next_or_previous(docker_client: Any, name: str) -> list[str]:
    return sorted(c.name for c in docker_client.containers.list(all=True, filters={"name": name})
                  if c.name != name)


def test_replace_then_commit(runtime: DockerRuntime, base_image: str, unique: Callable[[str], str],
                             tmp_path: Path, docker_client: Any) -> None:
    name, port = unique("commit"), free_port()
    old_spec = http_spec(name, base_image, site(tmp_path, "old"), port)
    old = runtime.create(old_spec)
    assert who(port) == "old"

    new_spec = http_spec(name, base_image, site(tmp_path, "new"), port)
    replacement = runtime.replace(new_spec, stop_timeout=2)
    assert who(port) == "new"
    assert replacement.container.name == name and replacement.container.running
    assert replacement.container.config_hash == new_spec.config_hash()
    assert replacement.previous is not None and replacement.previous.id == old.id
    assert replacement.previous.aside and not replacement.previous.running
    current = runtime.observe(name)
    assert current is not None and current.id == replacement.container.id
    assert [c.aside for c in runtime.observe_all() if c.server == name] == [False, True]

    replacement.commit()
    replacement.commit()  # idempotent
    assert _next_or_previous(docker_client, name) == []
    assert [c.id for c in runtime.observe_all() if c.server == name] == [replacement.container.id]
    with pytest.raises(ReplacementError):
        replacement.rollback()
    assert who(port) == "new"


def test_replace_then_rollback(runtime: DockerRuntime, base_image: str, unique: Callable[[str], str],
                               tmp_path: Path, docker_client: Any) -> None:
    name, port = unique("rollback"), free_port()
    old_spec = http_spec(name, base_image, site(tmp_path, "old"), port)
    old = runtime.create(old_spec)
    # the new one moves to another port and fails to be "healthy" as far as the caller cares
    new_port = free_port()
    new_spec = http_spec(name, base_image, site(tmp_path, "new"), new_port)
    replacement = runtime.replace(new_spec, stop_timeout=2)
    assert who(new_port) == "new"

    replacement.restore_previous()
    replacement.rollback()  # idempotent
    assert who(port) == "old"
    current = runtime.observe(name)
    assert current is not None and current.id == old.id and current.name == name
    assert current.config_hash == old_spec.config_hash() and current.running
    assert _next_or_previous(docker_client, name) == []
    with pytest.raises(ReplacementError):
        replacement.commit()


def test_rollback_keeps_a_stopped_previous_container_stopped(runtime: DockerRuntime, base_image: str,
                                                            unique: Callable[[str], str], tmp_path: Path,
                                                            docker_client: Any) -> None:
    name, port = unique("stopped"), free_port()
    old = runtime.create(http_spec(name, base_image, site(tmp_path, "old"), port))
    docker_client.containers.get(old.id).stop(timeout=2)
    replacement = runtime.replace(http_spec(name, base_image, site(tmp_path, "new"), port), stop_timeout=2)
    assert who(port) == "new"
    replacement.rollback()
    back = runtime.observe(name)
    assert back is not None and back.id == old.id and back.name == name
    assert back.status is ContainerStatus.EXITED  # as it was: a rollback never starts what was stopped


def test_replace_without_previous_container(runtime: DockerRuntime, base_image: str,
                                            unique: Callable[[str], str], tmp_path: Path) -> None:
    name, port = unique("fresh"), free_port()
    replacement = runtime.replace(http_spec(name, base_image, site(tmp_path, "fresh"), port))
    assert replacement.previous is None and who(port) == "fresh"
    replacement.rollback()
    assert runtime.observe(name) is None


def test_failed_replace_leaves_the_old_container_serving(runtime: DockerRuntime, base_image: str,
                                                         unique: Callable[[str], str], tmp_path: Path,
                                                         docker_client: Any) -> None:
    name, port = unique("failed"), free_port()
    old = runtime.create(http_spec(name, base_image, site(tmp_path, "old"), port))
    assert who(port) == "old"

    # fails before the old container is touched: it never even stops
    with pytest.raises(ImageNotFound):
        runtime.replace(http_spec(name, "tfsctl/does-not-exist:never", tmp_path, port))
    same = runtime.observe(name)
    assert same is not None and same.id == old.id and same.started_at == old.started_at

    # fails at start (port taken): the old one is back under its name at once
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortInUse):
            runtime.replace(http_spec(name, base_image, site(tmp_path, "new"), taken.getsockname()[1]),
                            stop_timeout=2)
    back = runtime.observe(name)
    assert back is not None and back.id == old.id and back.name == name and back.running
    assert who(port) == "old"
    assert _next_or_previous(docker_client, name) == []


def test_unfinished_replacement_recovered_from_engine_state(runtime: DockerRuntime, base_image: str,
                                                            unique: Callable[[str], str], tmp_path: Path,
                                                            docker_client: Any) -> None:
    name, port = unique("crash"), free_port()
    old = runtime.create(http_spec(name, base_image, site(tmp_path, "old"), port))
    runtime.replace(http_spec(name, base_image, site(tmp_path, "new"), port), stop_timeout=2)
    # the process that replaced died here: a fresh runtime finds the old container aside
    fresh = DockerRuntime(docker_client)
    assert fresh.restore_previous(name) is True
    assert who(port) == "old"
    current = fresh.observe(name)
    assert current is not None and current.id == old.id
    assert fresh.restore_previous(name) is False

    replacement = fresh.replace(http_spec(name, base_image, site(tmp_path, "newer"), port), stop_timeout=2)
    assert DockerRuntime(docker_client).discard_previous(name) == 1
    assert who(port) == "newer"
    assert [c.id for c in fresh.observe_all() if c.server == name] == [replacement.container.id]


def test_replace_result_is_json_friendly(runtime: DockerRuntime, base_image: str,
                                         unique: Callable[[str], str], tmp_path: Path) -> None:
    """What apply reports about a replacement can be printed without leaking secrets."""
    name, port = unique("report"), free_port()
    runtime.create(http_spec(name, base_image, site(tmp_path, "a"), port))
    replacement = runtime.replace(http_spec(name, base_image, site(tmp_path, "b"), port), stop_timeout=2)
    try:
        text = repr(replacement) + repr(replacement.container) + repr(replacement.previous)
        assert SECRET not in text and "pending" in text
        json.dumps({"new": replacement.container.name, "hash": replacement.container.config_hash})
        assert who(port) == "b"
    finally:
        replacement.commit()
