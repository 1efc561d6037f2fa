"""A `runtime: docker` server's gateways: containers of `python -m tfsctl.gateway`.

The container runs on the host's network, so that it listens on the gateway's port of
the server's bind address (SO_REUSEPORT) beside the container it replaces, reaches the
server where tfsctl does, and has the private verify port apply checks it on: the same
swap as the local runtime's, with containers `tfsctl-gw-<server>-<name>` and its
`-next`. The handler's directory is mounted read-only at /handler.

Handler dependencies: a gateway with `requirements:` runs in an image derived from its
`image`, built once per (image, requirements) with this machine's pip configuration
(PIP_INDEX_URL / PIP_EXTRA_INDEX_URL from the environment or `pip config`, and its CA
bundle, PIP_CERT or the system's, which only the build stage sees), the packages
installed into /opt/gateway-deps on the gateway's PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tfsctl.runtimes import ports
from tfsctl.runtimes.base import RuntimeStatus, RuntimeTarget, ServerExited
from tfsctl.runtimes.engine.errors import DockerRuntimeError, engine_call
from tfsctl.runtimes.gateway import MODULE, GatewayDriver, GatewayLaunch, GatewayProfile, GatewayState
from tfsctl.spec.gateways import Gateway

HASH_LABEL, SETTINGS_LABEL, DIGEST_LABEL = ("tfsctl.gateway.config-hash", "tfsctl.gateway.settings",
                                            "tfsctl.gateway.handler-sha256")
#: which server's gateway a container runs, and its name: how plan finds one the spec lost
SERVER_LABEL, NAME_LABEL = "tfsctl.gateway.server", "tfsctl.gateway.name"
DEPS = "/opt/gateway-deps"
DERIVED = """FROM {base} AS deps
USER root
COPY ca.crt /build/ca.crt
COPY requirements.txt /build/requirements.txt
ARG PIP_INDEX_URL=
ARG PIP_EXTRA_INDEX_URL=
RUN set -eu; [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; \\
    [ -n "$PIP_EXTRA_INDEX_URL" ] || unset PIP_EXTRA_INDEX_URL; \\
    PIP_CERT=/build/ca.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    python3 -m pip install -q --target {deps} -r /build/requirements.txt
FROM {base}
COPY --from=deps {deps} {deps}
ENV PYTHONPATH={deps}
"""


class DockerGatewayProfile(GatewayProfile):
    noun = "container"

    def image(self, gateway: Gateway) -> str:
        if not gateway.requirements:
            return gateway.image
        key = "\n".join([gateway.image, *sorted(gateway.requirements)]).encode()
        return f"tfsctl-gateway:{hashlib.sha256(key).hexdigest()[:16]}"


PROFILE = DockerGatewayProfile()


def _pip_setting(variable: str, key: str) -> str:
    """This machine's pip setting: the environment's, else pip's configuration's."""
    if os.environ.get(variable):
        return os.environ[variable]
    found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def _connect() -> Any:
    with engine_call("connect to the Docker engine"):
        import docker

        return docker.from_env(timeout=60)


class Driver(GatewayDriver):
    def __init__(self, target: RuntimeTarget, name: str):
        super().__init__(target, name)
        self._current = f"tfsctl-gw-{target.server}-{name}"
        self._next = f"{self._current}-next"
        self._verify_port = 0
        self._handler_dir = ""
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _connect()
        return self._client

    @staticmethod
    def names(target: RuntimeTarget) -> tuple[str, ...]:
        try:
            with engine_call(f"list the gateway containers of {target.server}"):
                found = _connect().containers.list(
                    all=True, filters={"label": f"{SERVER_LABEL}={target.server}"})
        except DockerRuntimeError:
            return ()
        return tuple(sorted({c.labels[NAME_LABEL] for c in found if NAME_LABEL in c.labels}))

    def _get(self, name: str) -> Any | None:
        import docker.errors

        try:
            with engine_call(f"inspect container {name}"):
                return self.client.containers.get(name)
        except DockerRuntimeError as exc:
            if isinstance(exc.__cause__, docker.errors.NotFound) or "No such" in exc.message:
                return None
            raise

    def observe(self) -> GatewayState:
        try:
            found = self._get(self._current) or self._get(self._next)
        except DockerRuntimeError as exc:
            return GatewayState(RuntimeStatus.UNREACHABLE, detail=exc.message)
        if found is None:
            return GatewayState(RuntimeStatus.MISSING)
        labels = found.labels
        settings = json.loads(labels.get(SETTINGS_LABEL) or "{}")
        running = found.status == "running"
        return GatewayState(RuntimeStatus.RUNNING if running else RuntimeStatus.STOPPED,
                            labels.get(HASH_LABEL), tuple(sorted(settings.items())),
                            labels.get(DIGEST_LABEL), found.short_id,
                            "" if running else f"container {found.name} is {found.status}")

    def _build(self, launch: GatewayLaunch) -> None:
        """The derived image with the handler's requirements, unless the engine has it."""
        import docker.errors

        with contextlib.suppress(docker.errors.ImageNotFound):
            self.client.images.get(launch.image)
            return
        with tempfile.TemporaryDirectory() as context:
            shutil.copyfile(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt",
                            Path(context, "ca.crt"))
            Path(context, "requirements.txt").write_text("\n".join(launch.requirements) + "\n")
            Path(context, "Dockerfile").write_text(DERIVED.format(base=launch.base_image,
                                                                  deps=DEPS))
            with engine_call(f"build the gateway image {launch.image} from "
                             f"{launch.base_image}", launch.base_image):
                self.client.images.build(
                    path=context, tag=launch.image, rm=True, network_mode="host",
                    buildargs={"PIP_INDEX_URL": _pip_setting("PIP_INDEX_URL", "global.index-url"),
                               "PIP_EXTRA_INDEX_URL": _pip_setting("PIP_EXTRA_INDEX_URL",
                                                                   "global.extra-index-url")})

    def start(self, launch: GatewayLaunch) -> None:
        self._remove(self._next)
        if launch.requirements:
            self._build(launch)
        self._verify_port = ports.free_loopback_port()
        handler = Path(launch.handler)
        self._handler_dir = str(handler.parent)
        import docker.types

        labels = {HASH_LABEL: launch.config_hash, DIGEST_LABEL: launch.handler_digest,
                  SERVER_LABEL: self.target.server, NAME_LABEL: self.name,
                  SETTINGS_LABEL: json.dumps(launch.settings(), sort_keys=True)}
        with engine_call(f"start the gateway container {self._next}", launch.image):
            container = self.client.containers.create(
                launch.image, list(launch.args(f"/handler/{handler.name}", self._verify_port)),
                entrypoint=["python3", "-m", MODULE], name=self._next, detach=True,
                network_mode="host", environment=[f"{k}={v}" for k, v in launch.env],
                mounts=[docker.types.Mount("/handler", str(handler.parent), type="bind",
                                           read_only=True)],
                labels=labels, restart_policy={"Name": "unless-stopped"})
            container.start()

    @property
    def verify_url(self) -> str:
        return f"http://127.0.0.1:{self._verify_port}"

    def check_started(self) -> None:
        container = self._get(self._next)
        if container is None or container.status in ("exited", "dead") or \
                container.attrs.get("RestartCount", 0) > 0:
            logs = "" if container is None else bytes(container.logs(tail=6)).decode(
                errors="replace").replace("/handler/", f"{self._handler_dir}/")  # host paths
            raise ServerExited(f"its new container exited while starting; its log ends with:\n"
                               f"{logs.rstrip()}", "fix the handler and apply again")

    def _remove(self, name: str) -> None:
        container = self._get(name)
        if container is not None:
            with engine_call(f"remove container {name}"):
                container.stop(timeout=10)  # the gateway finishes what it is answering
                container.remove(force=True)

    def promote(self) -> None:
        self._remove(self._current)
        container = self._get(self._next)
        assert container is not None
        with engine_call(f"rename container {self._next}"):
            container.rename(self._current)

    def discard(self) -> None:
        self._remove(self._next)

    def destroy(self) -> None:
        self._remove(self._next)
        self._remove(self._current)
