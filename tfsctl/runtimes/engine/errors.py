"""The Docker engine's failures as tfsctl errors, each with what to do about it.

The SDK raises `docker.errors` and `requests` exceptions; every engine call of
tfsctl runs inside `engine_call`, so callers only ever see the classes below,
with the operation that failed in the message and a hint. The SDK is imported
lazily: importing this module costs nothing, and works where the SDK is broken.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from tfsctl.errors import TfsctlError
from tfsctl.runtimes import ports

ENGINE_HINT = "start the Docker engine (dockerd; .ci/docker.sh does it) or point DOCKER_HOST at one"
BUILD_HINT = "build the serve image with scripts/build_image.sh (makes tfsctl/serve:dev) or pull the image"


class DockerRuntimeError(TfsctlError):
    """A Docker operation failed for a reason the user can fix (message + hint)."""


class EngineUnavailable(DockerRuntimeError):
    """The Docker engine did not answer.

    Not a crash: `plan` reports it as the live state "engine unreachable" and
    `apply` stops before changing anything.
    """


class ImageNotFound(DockerRuntimeError):
    """The image is not on the engine (nothing can be pulled on a machine without a registry)."""


class PortInUse(DockerRuntimeError, ports.PortInUse):
    """A host port of the spec is taken by another process or container."""


class FirewallChainMissing(DockerRuntimeError):
    """The engine cannot publish a port: its iptables chain was flushed under it."""


class NameConflict(DockerRuntimeError):
    """A container with the wanted name exists and is not the one being replaced."""


class ContainerNotFound(DockerRuntimeError):
    """The server has no container (it was never created or was removed by hand)."""


@contextlib.contextmanager
def engine_call(what: str, image: str | None = None) -> Iterator[None]:
    """Turn the SDK's and requests' exceptions into tfsctl's, naming what was being done."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound:
        raise ImageNotFound(f"{what}: image {image or '(unnamed)'} is not on the Docker engine",
                            BUILD_HINT) from None
    except docker.errors.APIError as exc:
        raise api_error(what, exc, image) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_short(exc)})",
                                ENGINE_HINT) from None
    except docker.errors.DockerException as exc:
        # from_env() without an engine, a bad DOCKER_HOST, a TLS setting...
        raise EngineUnavailable(f"{what}: the Docker engine did not answer ({_short(exc)})",
                                ENGINE_HINT) from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def api_error(what: str, exc: Any, image: str | None) -> DockerRuntimeError:
    """An engine refusal, classified by its message (the engine has no error codes for these)."""
    explanation = str(getattr(exc, "explanation", "") or exc)
    lower = explanation.lower()
    status = getattr(exc, "status_code", None)
    if "port is already allocated" in lower or "address already in use" in lower:
        return PortInUse(f"{what}: a host port is already in use ({explanation})",
                         "stop whatever holds the port, or choose other ports in the spec")
    if "iptables" in lower and "no chain/target/match" in lower:
        return FirewallChainMissing(
            f"{what}: the engine's iptables chain is gone (a firewall reload flushed Docker's "
            f"rules), so it cannot publish ports ({explanation})",
            "restart the Docker daemon (systemctl restart docker), which recreates its chains; "
            "then apply again")
    if "non-overlapping ipv4 address pool" in lower:
        return DockerRuntimeError(
            f"{what}: the engine has no address range left for another network ({explanation})",
            "remove networks nothing uses (docker network prune), or give the engine more "
            "ranges (default-address-pools in /etc/docker/daemon.json), then apply again")
    if "cannot assign requested address" in lower:
        return DockerRuntimeError(f"{what}: the bind address is not on this machine ({explanation})",
                                  "use 127.0.0.1, 0.0.0.0 or an address of this host")
    if status == 409 and "name" in lower and "already in use" in lower:
        return NameConflict(f"{what}: the container name is taken ({explanation})",
                            "remove that container (docker rm -f NAME) or rename it; tfsctl "
                            "only replaces containers it labelled itself")
    if "bind source path does not exist" in lower:
        return DockerRuntimeError(f"{what}: a mounted host path does not exist ({explanation})",
                                  "create the model root, or fix the path in the spec")
    if status == 404 and image and ("no such image" in lower or "pull access denied" in lower):
        return ImageNotFound(f"{what}: image {image} is not on the Docker engine", BUILD_HINT)
    if status is not None and status >= 500 and "connect" in lower:
        return EngineUnavailable(f"{what}: {explanation}", ENGINE_HINT)
    return DockerRuntimeError(f"{what}: {explanation}", "see the Docker engine's message")
