"""What the docker and swarm gateways share: the image a gateway runs in, the labels that
say what runs it, and how its task or container is started on the host's network.

Handler dependencies: a gateway with `requirements:` runs in an image derived from its
`image`, built once per (image, requirements) with this machine's pip configuration
(PIP_INDEX_URL / PIP_EXTRA_INDEX_URL from the environment or `pip config`, and its CA
bundle, PIP_CERT or the system's, which only the build stage sees), the packages
installed into /opt/gateway-deps on the gateway's PYTHONPATH.

The gateway runs on the host's network, so that it listens on the gateway's port of
the server's bind address (SO_REUSEPORT) beside the one it replaces, reaches the server
where tfsctl does, and has the private verify port apply checks it on. The handler's
directory is mounted read-only at /handler.
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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tfsctl.runtimes.base import RuntimeStatus
from tfsctl.runtimes.engine.errors import DockerRuntimeError, engine_call
from tfsctl.runtimes.gateway import MODULE, GatewayLaunch, GatewayProfile, GatewayState
from tfsctl.spec.gateways import Gateway

HASH_LABEL, SETTINGS_LABEL, DIGEST_LABEL = ("tfsctl.gateway.config-hash", "tfsctl.gateway.settings",
                                            "tfsctl.gateway.handler-sha256")
#: which server's gateway it runs, and its name: how plan finds one the spec lost
SERVER_LABEL, NAME_LABEL = "tfsctl.gateway.server", "tfsctl.gateway.name"
ENTRYPOINT = ("python3", "-m", MODULE)
HANDLER_DIR = "/handler"
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


class ImageGatewayProfile(GatewayProfile):
    """A gateway in an image: its own, or the one derived from it with its requirements."""

    def image(self, gateway: Gateway) -> str:
        if not gateway.requirements:
            return gateway.image
        key = "\n".join([gateway.image, *sorted(gateway.requirements)]).encode()
        return f"tfsctl-gateway:{hashlib.sha256(key).hexdigest()[:16]}"


def connect() -> Any:
    with engine_call("connect to the Docker engine"):
        import docker

        return docker.from_env(timeout=60)


class Engine:
    """A gateway driver's Docker client, connected on first use: constructing a driver
    touches nothing (plan builds drivers for servers whose engine may be away)."""

    def __init__(self) -> None:
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client


def gateway_names(server: str, what: str,
                  listing: Callable[[Any, dict[str, str]], Iterable[Mapping[str, str]]]
                  ) -> tuple[str, ...]:
    """The names of the gateways the engine runs for `server`, read from the labels of the
    `what` (containers, services) that `listing(client, filters)` yields the labels of; ()
    when the engine is away or cannot list them (not a swarm manager)."""
    try:
        with engine_call(f"list the gateway {what} of {server}"):
            found = list(listing(connect(), {"label": f"{SERVER_LABEL}={server}"}))
    except DockerRuntimeError:
        return ()
    return tuple(sorted({labels[NAME_LABEL] for labels in found if NAME_LABEL in labels}))


def _pip_setting(variable: str, key: str) -> str:
    """This machine's pip setting: the environment's, else pip's configuration's."""
    if os.environ.get(variable):
        return os.environ[variable]
    found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else ""


def ensure_image(client: Any, launch: GatewayLaunch) -> None:
    """The derived image with the handler's requirements, unless the engine has it (or
    the gateway has no requirements: it runs in its own image)."""
    import docker.errors

    if not launch.requirements:
        return
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.get(launch.image)
        return
    with tempfile.TemporaryDirectory() as context:
        shutil.copyfile(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt",
                        Path(context, "ca.crt"))
        Path(context, "requirements.txt").write_text("\n".join(launch.requirements) + "\n")
        Path(context, "Dockerfile").write_text(DERIVED.format(base=launch.base_image, deps=DEPS))
        with engine_call(f"build the gateway image {launch.image} from "
                         f"{launch.base_image}", launch.base_image):
            client.images.build(
                path=context, tag=launch.image, rm=True, network_mode="host",
                buildargs={"PIP_INDEX_URL": _pip_setting("PIP_INDEX_URL", "global.index-url"),
                           "PIP_EXTRA_INDEX_URL": _pip_setting("PIP_EXTRA_INDEX_URL",
                                                               "global.extra-index-url")})


def labels(launch: GatewayLaunch, server: str, name: str) -> dict[str, str]:
    """What a gateway's container or service is stamped with (observe reads them back)."""
    return {HASH_LABEL: launch.config_hash, DIGEST_LABEL: launch.handler_digest,
            SERVER_LABEL: server, NAME_LABEL: name,
            SETTINGS_LABEL: json.dumps(launch.settings(), sort_keys=True)}


def state_of(found: dict[str, str], running: bool, identity: str, detail: str) -> GatewayState:
    """The GatewayState its labels (`found`) and whether it runs say."""
    settings = json.loads(found.get(SETTINGS_LABEL) or "{}")
    return GatewayState(RuntimeStatus.RUNNING if running else RuntimeStatus.STOPPED,
                        found.get(HASH_LABEL), tuple(sorted(settings.items())),
                        found.get(DIGEST_LABEL), identity, "" if running else detail)


def command(launch: GatewayLaunch, verify_port: int) -> list[str]:
    """The gateway's arguments, its handler as the container sees it."""
    return list(launch.args(f"{HANDLER_DIR}/{Path(launch.handler).name}", verify_port))


def handler_mount(launch: GatewayLaunch) -> Any:
    import docker.types

    return docker.types.Mount(HANDLER_DIR, str(Path(launch.handler).parent), type="bind",
                              read_only=True)


def host_paths(log: str, launch: GatewayLaunch) -> str:
    """A log's lines with the handler's paths as they are on this machine."""
    return log.replace(f"{HANDLER_DIR}/", f"{Path(launch.handler).parent}/")
