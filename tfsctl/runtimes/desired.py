"""What a server's runtime should look like, computed from the spec alone (pure).

docker-compose's idea: no state file; the container (or local process record)
is stamped with a hash of the settings it was created from, and a different
hash means it must be replaced. Everything that needs a restart to take effect
goes into the hash: image, flags, ports, bind address, mounts, environment
(secret values included, but only ever as part of the hash) and resources.
model.config is deliberately not in it: a reload applies it hot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from tfsctl.serverconfig.launch import server_args
from tfsctl.spec.model import Runtime, Server

#: Ports the server listens on inside a container (tensorflow/serving's defaults).
CONTAINER_GRPC_PORT, CONTAINER_REST_PORT = 8500, 8501


@dataclass(frozen=True)
class SecretValue:
    """A value that prints as *** everywhere (plan, JSON, logs) but hashes as itself."""

    value: str

    def __repr__(self) -> str:
        return "SecretValue(***)"

    __str__ = __repr__


@dataclass(frozen=True)
class DesiredRuntime:
    """Runtime-neutral description of how the server runs."""

    server: str
    runtime: Runtime
    image: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str | SecretValue], ...]
    bind_address: str
    grpc_port: int
    rest_port: int
    model_root: str
    cpus: float | None
    memory_bytes: int | None

    def config_hash(self) -> str:
        """Stable across runs and machines; changes iff a restart-only setting changes."""
        data = {
            "runtime": self.runtime.value,
            "image": self.image if self.runtime is Runtime.DOCKER else None,
            "args": list(self.args),
            "env": [[k, v.value if isinstance(v, SecretValue) else v] for k, v in self.env],
            "bind": self.bind_address,
            "ports": [self.grpc_port, self.rest_port],
            "model_root": self.model_root,
            "cpus": self.cpus,
            "memory": self.memory_bytes,
        }
        encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:32]

    def plain_env(self) -> dict[str, str]:
        """The environment with secret values revealed: for the runtime, never for output."""
        return {k: v.value if isinstance(v, SecretValue) else v for k, v in self.env}


def desired_runtime(server: Server, secrets: Mapping[str, str]) -> DesiredRuntime:
    """`secrets` maps the names in `secret_env` (tfsctl's environment) to their values."""
    env: list[tuple[str, str | SecretValue]] = sorted(server.env.items())
    env += sorted((name, SecretValue(secrets.get(source, ""))) for name, source in
                  server.secret_env.items())
    env.sort(key=lambda item: item[0])
    return DesiredRuntime(
        server=server.name,
        runtime=server.runtime,
        image=server.image,
        args=server_args(server),
        env=tuple(env),
        bind_address=str(server.bind_address),
        grpc_port=server.ports.grpc,
        rest_port=server.ports.rest,
        model_root=str(server.model_root),
        cpus=server.resources.cpus,
        memory_bytes=int(server.resources.memory) if server.resources.memory else None,
    )

