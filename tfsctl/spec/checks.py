"""Semantic checks: rules that span fields, which types alone cannot say.

Each check is a small generator of `Finding`s addressed by the YAML path of
the offending value, so the loader can turn them into file:line:column errors.
They are pure: they look at the spec, never at the disk or the engine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tfsctl.spec.kubernetes import DNS_LABEL_PATTERN
from tfsctl.spec.model import Spec
from tfsctl.spec.model_spec import ModelSpec, SpecificPolicy
from tfsctl.spec.yamlsource import PathKey


@dataclass(frozen=True)
class Finding:
    path: PathKey
    message: str
    hint: str
    on_key: bool = False


def served_versions(model: ModelSpec) -> set[int]:
    """Which of the spec's declared versions the policy serves (what the server would load)."""
    return model.policy.select(model.versions)


def _duplicates(names: list[str]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    return {name: idx for name, idx in seen.items() if len(idx) > 1}


def check_unique_servers(spec: Spec) -> Iterator[Finding]:
    for name, indexes in _duplicates([s.name for s in spec.servers]).items():
        for i in indexes[1:]:
            yield Finding(("servers", i, "name"), f"server name {name!r} is used twice",
                          "give every server its own name")


def check_unique_models(spec: Spec) -> Iterator[Finding]:
    for si, server in enumerate(spec.servers):
        for name, indexes in _duplicates([m.name for m in server.models]).items():
            for i in indexes[1:]:
                yield Finding(("servers", si, "models", i, "name"),
                              f"model {name!r} is listed twice in server {server.name!r}",
                              "merge the two entries into one")
        paths = [str(server.base_path(m)) for m in server.models]
        for path, indexes in _duplicates(paths).items():
            for i in indexes[1:]:
                yield Finding(("servers", si, "models", i, "base_path"),
                              f"two models share the base path {path}",
                              "each model needs its own directory")


def check_ports(spec: Spec) -> Iterator[Finding]:
    """No two listeners on one address and port, within a server or between servers."""
    taken: dict[tuple[int, str], str] = {}
    for si, server in enumerate(spec.servers):
        address = ipaddress.ip_address(server.bind_address)
        for kind in ("grpc", "rest"):
            port = getattr(server.ports, kind)
            clash = next((owner for (p, addr), owner in taken.items() if p == port and (
                addr == str(address) or ipaddress.ip_address(addr).is_unspecified
                or address.is_unspecified)), None)
            if clash:
                yield Finding(("servers", si, "ports", kind),
                              f"port {port} is already taken by {clash}",
                              "pick a free port for each server's grpc and rest")
            else:
                taken[(port, str(address))] = f"server {server.name!r} ({kind})"


def check_versions(spec: Spec) -> Iterator[Finding]:
    """Labels and specific policies name versions the spec declares and serves."""
    for si, server in enumerate(spec.servers):
        for mi, model in enumerate(server.models):
            at: PathKey = ("servers", si, "models", mi)
            declared = set(model.versions)
            if isinstance(model.policy, SpecificPolicy):
                for version in model.policy.specific:
                    if version not in declared:
                        yield Finding(at + ("policy", "specific"),
                                      f"policy serves version {version}, which is not declared "
                                      "under `versions:`",
                                      f"add `{version}:` under versions (with a source if its "
                                      "directory does not exist yet)")
            served = served_versions(model)
            for label, version in model.labels.items():
                where = at + ("labels", label)
                if version not in declared:
                    yield Finding(where, f"label {label!r} points at version {version}, which "
                                  "is not declared under `versions:`",
                                  f"declare version {version}, or point the label at one of "
                                  f"{sorted(declared) or 'the declared versions'}")
                elif version not in served:
                    yield Finding(where, f"label {label!r} points at version {version}, which "
                                  f"the policy does not serve (it serves {sorted(served)})",
                                  "TF Serving rejects labels on unserved versions: widen the "
                                  "policy, e.g. `policy: {specific: [...]}`")
            for ti, smoke in enumerate(model.smoke):
                if smoke.label is not None and smoke.label not in model.labels:
                    yield Finding(at + ("smoke", ti, "label"),
                                  f"smoke test asks label {smoke.label!r}, which is not defined",
                                  f"use one of {sorted(model.labels)} or define it under labels")
                if smoke.version is not None and smoke.version not in served:
                    yield Finding(at + ("smoke", ti, "version"),
                                  f"smoke test asks version {smoke.version}, which is not served",
                                  f"use one of {sorted(served)}")


def check_sources(spec: Spec) -> Iterator[Finding]:
    """A source must not be the version directory it is exported into."""
    for si, server in enumerate(spec.servers):
        for mi, model in enumerate(server.models):
            base = server.base_path(model)
            for version, vspec in model.versions.items():
                source = vspec.source
                path = getattr(source, "saved_model", None) or getattr(source, "keras", None)
                if isinstance(path, Path) and (path == base or base in path.parents):
                    yield Finding(("servers", si, "models", mi, "versions", version, "source"),
                                  f"the source {path} lies inside the model's own directory",
                                  "keep sources outside the base path; tfsctl exports into it")


#: Flags the Kubernetes manifests set from the `kubernetes:` block.
KUBERNETES_FLAGS = frozenset({"model_config_file_poll_wait_seconds"})


def check_kubernetes(spec: Spec) -> Iterator[Finding]:
    """What the manifests need: a DNS name, models under the model root, a Secret for secrets."""
    for si, server in enumerate(spec.servers):
        kube = server.kubernetes
        if kube is None:
            continue
        at: PathKey = ("servers", si)
        if kube.name is None and not re.match(DNS_LABEL_PATTERN, server.name):
            yield Finding(at + ("name",), f"server name {server.name!r} is not a Kubernetes "
                          "name (lowercase letters, digits and '-', starting with a letter)",
                          "set `kubernetes: {name: ...}` to a name Kubernetes accepts")
        for mi, model in enumerate(server.models):
            base = server.base_path(model)
            if base != server.model_root and server.model_root not in base.parents:
                yield Finding(at + ("models", mi, "base_path"), f"base path {base} is outside "
                              f"the model root {server.model_root}", "pods see only the model "
                              "root (the claim or model_uri): move the model under it")
        if server.secret_env and kube.secret is None:
            yield Finding(at + ("secret_env",), "secret_env needs a Kubernetes Secret to read "
                          "the values from", "set `kubernetes: {secret: NAME}`; its keys are "
                          "the variable names on the right of secret_env")
        for flag in sorted(KUBERNETES_FLAGS & set(server.flags)):
            yield Finding(at + ("flags", flag), f"{flag} is set from the kubernetes block",
                          "use `kubernetes: {config_poll_seconds: N}` instead", on_key=True)


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def check_flags(spec: Spec) -> Iterator[Finding]:
    """Flag combinations TF Serving accepts and then misbehaves with."""
    for si, server in enumerate(spec.servers):
        at: PathKey = ("servers", si)
        if "file_system_poll_wait_seconds" in server.flags:
            wait = _number(server.flags["file_system_poll_wait_seconds"])
            if wait is None or wait <= 0:
                yield Finding(at + ("flags", "file_system_poll_wait_seconds"),
                              "with file_system_poll_wait_seconds 0 or less TF Serving looks "
                              "for versions only at start-up (or never), so a config reload "
                              "waits forever for the new ones; tfsctl reloads on every change",
                              "remove it (TF Serving's default is 1) or use a positive number")
        if "platform_config_file" in server.flags and server.batching is not None:
            yield Finding(at + ("batching",),
                          "TF Serving ignores the batching flags when platform_config_file is "
                          "set: batching would silently be off",
                          "set batching in the platform config's session_bundle_config and "
                          "remove `batching:`, or drop platform_config_file")


def _overlaps(a: str, b: str) -> bool:
    """Whether listeners on addresses `a` and `b` with one port would clash."""
    one, two = ipaddress.ip_address(a), ipaddress.ip_address(b)
    return one == two or one.is_unspecified or two.is_unspecified


def check_gateways(spec: Spec) -> Iterator[Finding]:
    """Each gateway names a server of the spec, listens where nothing else does, and has
    its handler file (the one rule that looks at the disk: the handler is one of the
    spec's own files, and a typo in its path should fail validate, not apply)."""
    listeners = [(str(s.bind_address), getattr(s.ports, kind), f"server {s.name!r} ({kind})")
                 for s in spec.servers for kind in ("grpc", "rest")]
    for name, indexes in _duplicates([g.name for g in spec.gateways]).items():
        for i in indexes[1:]:
            yield Finding(("gateways", i, "name"), f"gateway name {name!r} is used twice",
                          "give every gateway its own name")
    for gi, gateway in enumerate(spec.gateways):
        at: PathKey = ("gateways", gi)
        server = spec.server(gateway.server)
        if server is None:
            yield Finding(at + ("server",), f"no server named {gateway.server!r} in this spec",
                          f"use one of: {', '.join(s.name for s in spec.servers)}")
            continue
        address = str(server.bind_address)
        clash = next((owner for addr, port, owner in listeners
                      if port == gateway.port and _overlaps(addr, address)), None)
        if clash:
            yield Finding(at + ("port",), f"port {gateway.port} is already taken by {clash}",
                          "pick a port no server or other gateway listens on")
        listeners.append((address, gateway.port, f"gateway {gateway.name!r}"))
        if not gateway.handler.is_file():
            yield Finding(at + ("handler",), f"the handler file {gateway.handler} does not exist",
                          "give the path of a Python file, relative to the spec file")


CHECKS: tuple[Callable[[Spec], Iterator[Finding]], ...] = (
    check_unique_servers,
    check_unique_models,
    check_ports,
    check_versions,
    check_sources,
    check_kubernetes,
    check_flags,
    check_gateways,
)


def run_checks(spec: Spec, extra: Callable[[Spec], Iterable[Finding]] | None = None) -> list[Finding]:
    """The spec's own checks, then `extra` ones from a higher layer (the runtimes' rules)."""
    found = [finding for check in CHECKS for finding in check(spec)]
    return found + (list(extra(spec)) if extra is not None else [])

