"""What a server's runtime should look like, computed from the spec alone (pure).

docker-compose's idea: no state file; the container (or local process record)
is stamped with a hash of the settings it was created from, and a different
hash means it must be replaced. Everything that needs a restart to take effect
is a setting: image, flags, ports, bind address, model root, environment and
resources, as the runtime's profile lists them. model.config is deliberately not
one: a reload applies it hot.

Secret values are never part of a `DesiredRuntime` (it goes into plans and plan
files): only where they come from. They join the hash, and the environment the
runtime gets, at the moment they are read (`config_hash`, `launch`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tfsctl.runtimes.base import Launch
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.runtimes.registry import profile
from tfsctl.serverconfig.launch import server_args
from tfsctl.serverconfig.model_config import ModelEntry, desired_entries
from tfsctl.spec.model import Server


@dataclass(frozen=True)
class DesiredRuntime:
    """Runtime-neutral description of how the server runs (no secret values)."""

    server: str
    runtime: str
    image: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    #: runtime variable -> the variable of tfsctl's environment holding its value
    secret_env: tuple[tuple[str, str], ...]
    bind_address: str
    grpc_port: int
    rest_port: int
    model_root: str
    cpus: float | None
    memory_bytes: int | None
    #: the runtime's restart-only settings (see RuntimeProfile.settings), sorted by name
    settings: tuple[tuple[str, Any], ...]
    replicas: int = 1

    def stamped_settings(self) -> dict[str, Any]:
        """The settings as stamped on the runtime, so a later plan can name what changed;
        a secret appears only as where it comes from."""
        stamped = dict(self.settings)
        stamped.update({f"env.{name}": f"(secret ${source})" for name, source in self.secret_env})
        return stamped

    def config_hash(self, secrets: Mapping[str, str]) -> str:
        """Stable across runs and machines; changes iff a restart-only setting (or a secret's
        value, read from `secrets`: tfsctl variable -> value) changes."""
        data = {
            "runtime": self.runtime,
            "settings": [[k, v] for k, v in self.settings],
            "secrets": sorted([name, secrets.get(source, "")] for name, source in self.secret_env),
        }
        encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()[:32]

    def secrets_digest(self, secrets: Mapping[str, str]) -> str:
        """A digest of the secret values this runtime gets (only their digest leaves tfsctl)."""
        data = sorted([name, secrets.get(source, "")] for name, source in self.secret_env)
        encoded = json.dumps(data, separators=(",", ":")).encode()
        return hashlib.sha256(b"tfsctl-secrets\0" + encoded).hexdigest()[:32]

    def launch(self, secrets: Mapping[str, str]) -> Launch:
        """What the driver starts the server from, secret values revealed (for the runtime only)."""
        env = dict(self.env)
        env.update({name: secrets.get(source, "") for name, source in self.secret_env})
        return Launch(image=self.image, args=self.args, env=env, bind_address=self.bind_address,
                      grpc_port=self.grpc_port, rest_port=self.rest_port, model_root=self.model_root,
                      cpus=self.cpus, memory_bytes=self.memory_bytes, replicas=self.replicas,
                      config_hash=self.config_hash(secrets), settings=self.stamped_settings(),
                      secret_sources=dict(self.secret_env))


def desired_model_entries(server: Server, runtime: RuntimeProfile | None = None
                          ) -> tuple[ModelEntry, ...]:
    """The model.config entries of the spec, with base paths as the server sees them
    (`runtime`: the server's profile, when the caller has looked it up already)."""
    return desired_entries(server, (runtime or profile(server.runtime)).view(server).root)


def desired_runtime(server: Server, runtime: RuntimeProfile | None = None) -> DesiredRuntime:
    runtime = runtime or profile(server.runtime)
    options = server.runtime_options
    args = server_args(server, runtime.view(server))
    return DesiredRuntime(
        server=server.name,
        runtime=server.runtime,
        image=options.image,
        args=args,
        env=tuple(sorted(server.env.items())),
        secret_env=tuple(sorted(server.secret_env.items())),
        bind_address=str(server.bind_address),
        grpc_port=server.ports.grpc,
        rest_port=server.ports.rest,
        model_root=str(server.model_root),
        cpus=options.resources.cpus,
        memory_bytes=int(options.resources.memory) if options.resources.memory else None,
        settings=tuple(sorted(runtime.settings(server, args).items())),
        replicas=options.replicas,
    )
