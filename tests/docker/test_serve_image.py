"""The tfsctl/serve image end to end: what tensorflow/serving users rely on.

Runs the image the way people run tensorflow/serving (MODEL_NAME + a model dir
mounted under /models, or --model_config_file passed through), through
tfsctl's engine layer, with ports published on 127.0.0.1, and predicts half_plus_two.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.containers import stamp
from tests.support.net import free_port, wait_http
from tfsctl.runtimes.engine.container_spec import ContainerSpec, Mount, PortBinding
from tfsctl.runtimes.engine.containers import Containers

pytestmark = pytest.mark.docker

HALF_PLUS_TWO = "saved_model_half_plus_two_cpu"
READY_TIMEOUT = 120  # TensorFlow's import alone takes seconds on a small CI machine


def _run(containers: Containers, image: str, name: str, mounts: tuple[Mount, ...],
         env: tuple[tuple[str, str], ...] = (), args: tuple[str, ...] = ()) -> tuple[int, int]:
    """Create and start the server's container; its (gRPC, REST) host ports."""
    grpc_port, rest_port = free_port(), free_port()
    config_hash, settings = stamp(image=image, args=args)
    spec = ContainerSpec(name=name, server=name, image=image, args=args, env=env,
                         ports=(PortBinding(8500, "127.0.0.1", grpc_port),
                                PortBinding(8501, "127.0.0.1", rest_port)),
                         mounts=mounts, config_hash=config_hash, settings=settings)
    containers.create(spec)
    return grpc_port, rest_port


def _wait_available(containers: Containers, name: str, rest_port: int, model: str) -> None:
    def alive() -> str | None:
        observed = containers.observe(name)
        if observed is None or not observed.running or observed.restart_count:
            return f"the server exited; its logs:\n{containers.logs_tail(name, 80)}"
        return None

    def available(response: requests.Response) -> bool:
        states = [v.get("state") for v in response.json().get("model_version_status", [])]
        return "AVAILABLE" in states

    wait_http(f"http://127.0.0.1:{rest_port}/v1/models/{model}", timeout=READY_TIMEOUT,
              ok=available, alive=alive)


def _predict(rest_port: int, model: str) -> list[float]:
    response = requests.post(f"http://127.0.0.1:{rest_port}/v1/models/{model}:predict",
                             json={"instances": [1.0, 2.0, 5.0]}, timeout=30)
    assert response.status_code == 200, response.text
    return [float(x) for x in response.json()["predictions"]]


def test_image_is_tensorflow_serving_shaped(serve_image: str, docker_client: Any) -> None:
    config = docker_client.images.get(serve_image).attrs["Config"]
    assert set(config["ExposedPorts"]) == {"8500/tcp", "8501/tcp"}
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["MODEL_NAME"] == "model" and env["MODEL_BASE_PATH"] == "/models"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert config["Entrypoint"] == ["/usr/bin/tf_serving_entrypoint.sh"]
    assert config["User"] and config["User"].split(":")[0] not in ("", "0", "root")
    # no build leftovers: the build's CA file, pip caches, TensorFlow's C++ headers
    uid = docker_client.containers.run(serve_image, entrypoint=["id", "-u"], remove=True)
    assert uid.decode().strip() != "0"
    leftovers = ["/build", "/tmp/wheels", "/etc/ssl/certs/build-ca.crt", "/root/.cache",
                 "/opt/tfsctl/lib/python3.11/site-packages/tensorflow/include"]
    found = docker_client.containers.run(
        serve_image, entrypoint=["sh", "-c", 'for p in "$@"; do [ ! -e "$p" ] || echo "$p"; done', "-"],
        command=leftovers, user="0", remove=True)
    assert found.decode().split() == []


def test_predict_half_plus_two_like_tensorflow_serving(containers: Containers, serve_image: str,
                                                       tfs_testdata: Path, unique: Callable[[str], str],
                                                       docker_client: Any) -> None:
    import grpc

    name = unique("hpt")
    model_dir = tfs_testdata / HALF_PLUS_TWO
    grpc_port, rest_port = _run(containers, serve_image, name,
                                (Mount(str(model_dir), "/models/half_plus_two", read_only=True),),
                                env=(("MODEL_NAME", "half_plus_two"),))
    _wait_available(containers, name, rest_port, "half_plus_two")
    assert _predict(rest_port, "half_plus_two") == pytest.approx([2.5, 3.0, 4.5])

    # the gRPC port answers HTTP/2 (a full gRPC predict is covered by tests/serve)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=30)

    # docker stop sends SIGTERM to the server itself (exec'd as PID 1): a clean, quick exit
    container = docker_client.containers.get(name)
    assert container.top()["Processes"][0][-1].startswith(("python3", "/opt/tfsctl/bin/python"))
    container.stop(timeout=30)
    container.reload()
    # 0, not 137: the server stopped on SIGTERM itself, before the engine's SIGKILL
    assert container.attrs["State"]["ExitCode"] == 0, containers.logs_tail(name)


def test_model_config_file_is_passed_through(containers: Containers, serve_image: str, tfs_testdata: Path,
                                             unique: Callable[[str], str], tmp_path: Path) -> None:
    name = unique("config")
    config = tmp_path / "model.config"
    config.write_text('model_config_list {\n  config {\n    name: "hpt"\n'
                      '    base_path: "/models/half_plus_two"\n    model_platform: "tensorflow"\n  }\n}\n')
    mounts = (Mount(str(tfs_testdata / HALF_PLUS_TWO), "/models/half_plus_two", read_only=True),
              Mount(str(config), "/models/model.config", read_only=True))
    _, rest_port = _run(containers, serve_image, name, mounts,
                        args=("--model_config_file=/models/model.config",))
    _wait_available(containers, name, rest_port, "hpt")
    assert _predict(rest_port, "hpt") == pytest.approx([2.5, 3.0, 4.5])
    # the entrypoint's default model (/models/model) is not served when a config file is given
    assert requests.get(f"http://127.0.0.1:{rest_port}/v1/models/model", timeout=10).status_code == 404


def test_apply_reloads_and_reads_status_over_grpc(containers: Containers, serve_image: str,
                                                  tfs_testdata: Path, unique: Callable[[str], str],
                                                  tmp_path: Path) -> None:
    """apply's own gRPC client (tfsctl's protos, TF Serving's method paths) against the image."""
    from tfsctl.apply.server_client import model_status, reload_config
    from tfsctl.endpoints import Endpoint
    from tfsctl.live.state import VersionState
    from tfsctl.serverconfig.model_config import ModelEntry, render_text

    name = unique("wire")
    hpt = ModelEntry("hpt", "/models/half_plus_two")
    config = tmp_path / "model.config"
    config.write_text(render_text([hpt]))
    mounts = (Mount(str(tfs_testdata / HALF_PLUS_TWO), "/models/half_plus_two", read_only=True),
              Mount(str(config), "/models/model.config", read_only=True))
    grpc_port, rest_port = _run(containers, serve_image, name, mounts,
                                args=("--model_config_file=/models/model.config",))
    _wait_available(containers, name, rest_port, "hpt")
    endpoint = Endpoint("127.0.0.1", grpc_port, rest_port)
    status = model_status(endpoint, "hpt", timeout=30)
    assert status is not None and [(v.version, v.state) for v in status.versions] == [
        (123, VersionState.AVAILABLE)]

    reload_config(endpoint, [hpt, ModelEntry("again", "/models/half_plus_two")])
    _wait_available(containers, name, rest_port, "again")
    again = model_status(endpoint, "again", timeout=30)
    assert again is not None and [v.state for v in again.versions] == [VersionState.AVAILABLE]
    assert _predict(rest_port, "again") == pytest.approx([2.5, 3.0, 4.5])
