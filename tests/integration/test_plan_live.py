"""plan against real model directories and a real Docker engine.

Containers are created by hand here, standing for "already deployed" (by
tfsctl or by someone else), to check what plan reads from the world: no
server needs to answer for these.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.images import BASE_IMAGE
from tfsctl.runtimes.desired import desired_model_entries, desired_runtime
from tfsctl.runtimes.engine.container_spec import (
    CONFIG_HASH_LABEL,
    MANAGED_LABEL,
    SERVER_LABEL,
    SETTINGS_LABEL,
)
from tfsctl.runtimes.proxy import proxy_label
from tfsctl.spec.load import load_spec


def _plan(spec: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfsctl.cli.main", "plan", "-f", str(spec), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


def _spec(tmp_path: Path, tfs_testdata: Path, name: str, **server: object) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tfs_testdata / "saved_model_half_plus_two_2_versions", root / "hpt")
    spec = tmp_path / "tfsctl.yaml"
    image = {} if server.get("runtime") == "local" else {"image": BASE_IMAGE}
    spec.write_text(yaml.safe_dump({"apiVersion": "tfsctl/v1", "servers": [{
        "name": name, "model_root": str(root), **image, **server,
        "models": [{"name": "hpt", "policy": {"specific": [123, 124]},
                    "versions": {123: {}, 124: {}}, "labels": {"stable": 124}}]}]}))
    return spec


def _stand_in_proxy(client: Any, server: str) -> Any:
    """What a docker server's traffic goes through, as the runtime observes it: a running
    container labelled as the server's proxy (a sleeper stands in for HAProxy)."""
    return client.containers.run(BASE_IMAGE, ["sleep", "600"], name=f"{server}-proxy-stand-in",
                                 detach=True, labels={MANAGED_LABEL: "true",
                                                      SERVER_LABEL: proxy_label(server)})


def test_plan_reads_real_zero_padded_version_dirs(tmp_path: Path, tfs_testdata: Path) -> None:
    spec = _spec(tmp_path, tfs_testdata, "dirs", runtime="local")
    result = _plan(spec, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    server = plan["servers"][0]
    assert server["versions"] == []  # 00000123 and 00000124 are versions 123 and 124
    assert server["action"] == "create"
    assert not plan["errors"]
    # an incomplete version dir is an error to fix, not something to serve
    (tmp_path / "models/hpt/00000124/saved_model.pb").unlink()
    broken = _plan(spec, "--json")
    assert broken.returncode == 1
    assert any(e["kind"] == "version-incomplete" for e in json.loads(broken.stdout)["errors"])


@pytest.mark.docker
def test_plan_against_containers_created_by_hand(tmp_path: Path, tfs_testdata: Path) -> None:
    import docker

    client = docker.from_env()
    name = f"plan-it-{os.getpid()}"
    spec = _spec(tmp_path, tfs_testdata, name)
    loaded = load_spec(spec)
    desired = desired_runtime(loaded.spec.servers[0])
    labels = {MANAGED_LABEL: "true", SERVER_LABEL: name, CONFIG_HASH_LABEL: desired.config_hash({}),
              SETTINGS_LABEL: json.dumps(desired.stamped_settings())}
    container = client.containers.run(BASE_IMAGE, ["sleep", "600"], name=name, detach=True,
                                      labels=labels)
    proxy = _stand_in_proxy(client, name)
    try:
        from tfsctl.serverconfig.model_config import render_text

        (tmp_path / "models/model.config").write_text(render_text(desired_model_entries(
            loaded.spec.servers[0])))
        in_sync = _plan(spec, "--detailed-exitcode")
        assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr

        # hand-edited model.config: a config change, hot reload
        (tmp_path / "models/model.config").write_text(
            'model_config_list { config { name: "hpt" base_path: "/models/hpt" '
            'model_platform: "tensorflow" model_version_policy { all {} } } }')
        edited = _plan(spec, "--detailed-exitcode")
        assert edited.returncode == 2
        assert "reloaded" in edited.stdout and "policy: all -> specific [123, 124]" in edited.stdout

        # a container recreated by hand with other settings: replace
        container.remove(force=True)
        container = client.containers.run(BASE_IMAGE, ["sleep", "600"], name=name, detach=True,
                                          labels={**labels, CONFIG_HASH_LABEL: "by-hand",
                                                  SETTINGS_LABEL: json.dumps({
                                                      **desired.stamped_settings(),
                                                      "ports.rest": 9999})})
        replaced = json.loads(_plan(spec, "--json").stdout)["servers"][0]
        assert replaced["action"] == "replace"
        assert replaced["reasons"] == [f"ports.rest: 9999 -> {desired.rest_port}"]

        # stopped by hand: started again as it is; removed by hand: created again
        container.remove(force=True)
        container = client.containers.run(BASE_IMAGE, ["sleep", "600"], name=name, detach=True,
                                          labels=labels)
        container.stop(timeout=1)
        stopped = _plan(spec, "--json")
        assert json.loads(stopped.stdout)["servers"][0]["action"] == "start"
        container.remove(force=True)
        gone = _plan(spec, "--json")
        assert json.loads(gone.stdout)["servers"][0]["action"] == "create"
    finally:
        proxy.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def test_unreachable_engine_is_a_state_not_a_crash(tmp_path: Path, tfs_testdata: Path) -> None:
    spec = _spec(tmp_path, tfs_testdata, "nodocker")
    result = _plan(spec, env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert result.returncode == 1
    assert "engine-unreachable" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.docker
def test_an_image_rebuilt_under_its_tag_is_a_replace_naming_both_ids(tmp_path: Path,
                                                                      tfs_testdata: Path) -> None:
    import docker

    client = docker.from_env()
    name = f"plan-rebuilt-{os.getpid()}"
    tag = f"tfsctl-test/rebuilt:{os.getpid()}"
    client.images.get(BASE_IMAGE).tag(tag)
    spec = _spec(tmp_path, tfs_testdata, name, image=tag)
    desired = desired_runtime(load_spec(spec).spec.servers[0])
    labels = {MANAGED_LABEL: "true", SERVER_LABEL: name, CONFIG_HASH_LABEL: desired.config_hash({}),
              SETTINGS_LABEL: json.dumps(desired.stamped_settings())}
    container = client.containers.run(tag, ["sleep", "600"], name=name, detach=True, labels=labels)
    rebuilt = None
    proxy = _stand_in_proxy(client, name)
    try:
        from tfsctl.serverconfig.model_config import render_text

        (tmp_path / "models/model.config").write_text(render_text(desired_model_entries(
            load_spec(spec).spec.servers[0])))
        assert _plan(spec, "--detailed-exitcode").returncode == 0
        old_id = client.images.get(tag).id
        rebuilt = container.commit(repository="tfsctl-test/rebuilt", tag=str(os.getpid()))
        assert rebuilt.id != old_id
        plan = json.loads(_plan(spec, "--json").stdout)["servers"][0]
        assert plan["action"] == "replace"
        assert plan["reasons"][0].startswith("blue/green behind the proxy"), plan["reasons"]
        assert plan["reasons"][1:] == [f"image: {tag} (rebuilt: {old_id[:19]} -> {rebuilt.id[:19]})"]
    finally:
        proxy.remove(force=True)
        container.remove(force=True)
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(tag, force=True)
        if rebuilt is not None:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(rebuilt.id, force=True)
