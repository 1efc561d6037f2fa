"""The rendered pod, run the way a kubelet would run it, in the server image.

No Kubernetes runs here, so the test plays the kubelet's part with Docker: the
Deployment's args, user, read-only root and /tmp emptyDir; the ConfigMap as
the kubelet lays it out (files linked through `..data`, swapped atomically on
an update) mounted read-only at /etc/tfsctl; the claim as a read-only /models;
and the probes as exec commands in the container. An in-place update of the
ConfigMap must reach the server without a restart.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.models import make_writable
from tfsctl.kubernetes.manifests import CONFIG_DIR, MODEL_MOUNT, config_map, deployment
from tfsctl.spec.load import load_spec

pytestmark = pytest.mark.docker

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: tfs
    model_root: models
    kubernetes: {{model_volume: {{claim: models}}, config_poll_seconds: 1}}
    models:
      - name: two
        base_path: two
        policy: {{specific: [{versions}]}}
        versions: {{{declared}}}
        labels: {{stable: 123}}
"""
READY_TIMEOUT = 120  # TensorFlow's import alone takes seconds on a small CI machine


def _render(tmp_path: Path, versions: list[int]) -> tuple[dict[str, str], dict[str, Any]]:
    """The ConfigMap's files and the Deployment for the spec serving `versions`."""
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(SPEC.format(versions=", ".join(map(str, versions)),
                                declared=", ".join(f"{v}: {{}}" for v in versions)))
    server = load_spec(spec).spec.servers[0]
    return config_map(server)["data"], deployment(server)


def _project(directory: Path, files: dict[str, str], generation: int) -> None:
    """Write `files` as the kubelet projects a ConfigMap: a timestamped dir, `..data`
    pointing at it (replaced by an atomic rename), and each file a link through `..data`."""
    data = directory / f"..{generation}"
    data.mkdir()
    for name, content in files.items():
        (data / name).write_text(content)
    make_writable(data)
    link = directory / "..data_tmp"
    link.symlink_to(data.name)
    link.replace(directory / "..data")
    for name in files:
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def _exec(container: Any, command: list[str]) -> tuple[int, str]:
    code, output = container.exec_run(command, user=container.attrs["Config"]["User"])
    return code, output.decode()


def _wait(check: Callable[[], tuple[int, str]], container: Any, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = (None, "")
    while time.monotonic() < deadline:
        container.reload()
        if container.status != "running":
            pytest.fail(f"the server exited:\n{container.logs(tail=80).decode()}", pytrace=False)
        last = check()
        if last[0] == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"{what} not true after {READY_TIMEOUT}s: {last}\n"
                f"{container.logs(tail=80).decode()}", pytrace=False)


def test_pod_serves_and_takes_model_config_changes_in_place(
        docker_client: Any, serve_image: str, unique: Callable[[str], str], tfs_testdata: Path,
        tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tfs_testdata / "saved_model_half_plus_two_2_versions", models / "two")
    make_writable(models)
    config = tmp_path / "configmap"
    config.mkdir()
    os.chmod(config, 0o755)
    files, pod = _render(tmp_path, [123])
    _project(config, files, 1)

    spec = pod["spec"]["template"]["spec"]
    (container_spec,) = spec["containers"]
    security = spec["securityContext"]
    assert container_spec["securityContext"]["readOnlyRootFilesystem"] is True
    container = docker_client.containers.run(
        serve_image, command=container_spec["args"], name=unique("pod"), detach=True,
        user=f"{security['runAsUser']}:{security['runAsGroup']}", read_only=True,
        tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        volumes={str(config): {"bind": CONFIG_DIR, "mode": "ro"},
                 str(models): {"bind": MODEL_MOUNT, "mode": "ro"}})
    startup = container_spec["startupProbe"]["exec"]["command"]
    readiness = container_spec["readinessProbe"]["exec"]["command"]
    _wait(lambda: _exec(container, startup), container, "the startup probe")
    assert _exec(container, readiness)[0] == 0

    # The ConfigMap changes in place (version 124 added): the pod template does not.
    files, updated = _render(tmp_path, [123, 124])
    assert updated == pod
    _project(config, files, 2)
    # The new version is not loaded until TF Serving polls; a pod that serves stays ready.
    assert _exec(container, readiness)[0] == 0
    _wait(lambda: _exec(container, startup), container, "version 124 AVAILABLE in place")
    code, output = _exec(container, ["bash", "-c", f"cat {CONFIG_DIR}/ready.models"])
    assert (code, output) == (0, "two 123 124\n")
    container.reload()
    assert container.attrs["RestartCount"] == 0 and container.status == "running"
