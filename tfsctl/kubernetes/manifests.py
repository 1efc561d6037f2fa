"""A server as Kubernetes objects: ConfigMap, Deployment, Service, PodDisruptionBudget.

Pure: the spec in, plain dictionaries out (`render.py` writes them as YAML). The
image, limits and copies are what the server's runtime options answer (a docker or
swarm server's own keys; a local server runs the default image, once, unlimited).
tfsctl does not talk to a cluster; teams commit the output and hand it to
`kubectl apply -k`, Argo CD or Flux. Where TF Serving on Kubernetes usually
goes wrong, and what these manifests do about it:

- model.config changes (versions, labels) apply in place: the ConfigMap is
  mounted as a directory (a subPath mount is never updated) and TF Serving
  re-reads it every `config_poll_seconds`. What only a restart applies (flags,
  image, batching and monitoring files) is hashed into a pod-template
  annotation, so changing it rolls the pods.
- A pod takes traffic only once every model's versions are AVAILABLE (TF
  Serving's status answers 200 while a version is still LOADING): a startup
  probe checks each version; after that, the readiness probe keeps a pod in
  service while an in-place change loads a new version beside the old one
  (requiring the new one there would pull every replica out at once).
- Rolling updates never go below `replicas` (`maxUnavailable: 0`); TF Serving
  does not stop on SIGTERM, so a preStop delay lets endpoints drop a pod
  before the grace period ends and it is killed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from importlib import resources
from typing import Any

from tfsctl.serverconfig.launch import ServerView, server_args, side_files
from tfsctl.serverconfig.model_config import (
    MODEL_CONFIG_FILE,
    ModelEntry,
    desired_entries,
    render_text,
)
from tfsctl.spec.checks import served_versions
from tfsctl.spec.kubernetes import Kubernetes
from tfsctl.spec.model import Server
from tfsctl.spec.model_spec import AllPolicy, ModelSpec, SpecificPolicy

#: Where the ConfigMap is mounted (a directory, so that updates reach the pod).
CONFIG_DIR = "/etc/tfsctl"
#: Where the claim with the model root is mounted (tensorflow/serving's convention).
MODEL_MOUNT = "/models"
PROBE_FILE = "ready.sh"
PROBE_MODELS_FILE = "ready.models"
#: The ports the image's entrypoint listens on (tensorflow/serving's and tfsctl/serve's).
GRPC_PORT, REST_PORT = 8500, 8501
RESTART_ANNOTATION = "tfsctl/restart-hash"
CONTAINER_NAME = "tensorflow-serving"
#: Seconds between probe runs; the startup probe's threshold follows from the timeout.
PROBE_PERIOD = 5

Manifest = dict[str, Any]


def kube(server: Server) -> Kubernetes:
    """The server's kubernetes block; spec loading guarantees it for servers rendered here."""
    if server.kubernetes is None:
        raise ValueError(f"server {server.name!r} has no kubernetes block")
    return server.kubernetes


def resource_name(server: Server) -> str:
    return kube(server).name or server.name


def selector_labels(server: Server) -> dict[str, str]:
    """Labels that pick this server's pods (stable: a Deployment's selector is immutable)."""
    return {"app.kubernetes.io/name": "tensorflow-serving",
            "app.kubernetes.io/instance": resource_name(server)}


def labels(server: Server) -> dict[str, str]:
    return {**selector_labels(server), "app.kubernetes.io/component": "model-server",
            "app.kubernetes.io/managed-by": "tfsctl"}


def metadata(server: Server, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if kube(server).namespace is not None:
        meta["namespace"] = kube(server).namespace
    meta["labels"] = labels(server)
    return meta


def pod_model_root(server: Server) -> str:
    """The model root as the pods see it: the claim's mount, or the object storage URI."""
    return (kube(server).model_uri or MODEL_MOUNT).rstrip("/")


def model_entries(server: Server) -> tuple[ModelEntry, ...]:
    """model.config entries with the base paths the pods see (same place under the root).
    Joined as text: a path type would fold the `//` of a gs:// root."""
    root = pod_model_root(server)
    return tuple(
        replace(entry, base_path="/".join(
            (root, *server.base_path(model).relative_to(server.model_root).parts)))
        for entry, model in zip(desired_entries(server, MODEL_MOUNT), server.models,
                                strict=True))


def probe_versions(model: ModelSpec) -> list[int]:
    """The versions the startup probe waits for. A `latest` policy serves the newest
    versions on the volume, which the spec may not list, so only its labels' versions
    are certain (none: any AVAILABLE version will do)."""
    if isinstance(model.policy, SpecificPolicy | AllPolicy):
        return sorted(served_versions(model))
    return sorted(set(model.labels.values()))


def probe_models(server: Server) -> str:
    return "".join(" ".join([model.name, *map(str, probe_versions(model))]) + "\n"
                   for model in server.models)


def probe_script() -> str:
    return resources.files(__package__).joinpath(PROBE_FILE).read_text()


def config_files(server: Server) -> dict[str, str]:
    """The ConfigMap's files: model.config, the side files and the readiness probe."""
    files = {MODEL_CONFIG_FILE: render_text(model_entries(server))}
    files.update((side.name, side.content) for side in side_files(server))
    files[PROBE_FILE] = probe_script()
    files[PROBE_MODELS_FILE] = probe_models(server)
    return files


def container_args(server: Server) -> list[str]:
    """The server's flags with its files in the ConfigMap's directory (the image's entrypoint
    binds the ports), and the poll that makes model.config changes apply in place."""
    args = server_args(server, ServerView(CONFIG_DIR))
    return [*args, f"--model_config_file_poll_wait_seconds={kube(server).config_poll_seconds}"]


def restart_hash(server: Server) -> str:
    """What a running server reads only at start and the pod template does not show:
    the side files (batching, monitoring); with image and args, so the hash says it all."""
    data = {"image": server.runtime_options.image, "args": container_args(server),
            "files": {side.name: side.content for side in side_files(server)}}
    encoded = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def config_map(server: Server) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": metadata(server, f"{resource_name(server)}-config"),
            "data": config_files(server)}


def _cpu(cpus: float) -> str:
    return str(int(cpus)) if cpus == int(cpus) else f"{math.ceil(cpus * 1000)}m"


def _memory(size: int) -> str:
    """Bytes as the largest binary unit that divides them (2GiB -> 2Gi)."""
    for unit, factor in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def container_resources(server: Server) -> dict[str, dict[str, str]]:
    """`kubernetes.resources` as given, else the server's `resources:` as requests and limits
    (equal, so the pod's memory is guaranteed rather than overcommitted)."""
    given = kube(server).resources
    if given is not None:
        return {kind: amounts for kind, amounts in
                (("requests", given.requests.model_dump(exclude_none=True)),
                 ("limits", given.limits.model_dump(exclude_none=True))) if amounts}
    amounts = {}
    limits = server.runtime_options.resources
    if limits.cpus is not None:
        amounts["cpu"] = _cpu(limits.cpus)
    if limits.memory is not None:
        amounts["memory"] = _memory(int(limits.memory))
    return {"requests": amounts, "limits": dict(amounts)} if amounts else {}


def container_env(server: Server) -> list[dict[str, Any]]:
    """Plain variables as values; secret ones from the kubernetes Secret, never inline."""
    env: list[dict[str, Any]] = [{"name": name, "value": value}
                                 for name, value in sorted(server.env.items())]
    env += [{"name": name, "valueFrom": {"secretKeyRef": {"name": kube(server).secret,
                                                          "key": source}}}
            for name, source in sorted(server.secret_env.items())]
    return sorted(env, key=lambda item: item["name"])


def _probe(command: list[str], failures: int) -> dict[str, Any]:
    return {"exec": {"command": ["bash", f"{CONFIG_DIR}/{PROBE_FILE}", *command]},
            "periodSeconds": PROBE_PERIOD, "timeoutSeconds": 10, "failureThreshold": failures}


def container(server: Server) -> dict[str, Any]:
    settings = kube(server)
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
              {"name": "tmp", "mountPath": "/tmp"}]
    if settings.model_volume is not None:
        mounts.append({"name": "models", "mountPath": MODEL_MOUNT, "readOnly": True})
    spec: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": server.runtime_options.image,
        "args": container_args(server),
        "ports": [{"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                  {"name": "http", "containerPort": REST_PORT, "protocol": "TCP"}],
    }
    env = container_env(server)
    if env:
        spec["env"] = env
    spec["resources"] = container_resources(server)
    spec["startupProbe"] = _probe([], math.ceil(settings.startup_timeout_seconds / PROBE_PERIOD))
    spec["readinessProbe"] = _probe(["--serving", *(m.name for m in server.models)], 2)
    if settings.drain_seconds:
        spec["lifecycle"] = {"preStop": {"exec": {"command": [
            "sleep", str(settings.drain_seconds)]}}}
    spec["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                               "capabilities": {"drop": ["ALL"]}}
    spec["volumeMounts"] = mounts
    return spec


def volumes(server: Server) -> list[dict[str, Any]]:
    settings = kube(server)
    items: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{resource_name(server)}-config"}},
        {"name": "tmp", "emptyDir": {}}]
    if settings.model_volume is not None:
        items.append({"name": "models", "persistentVolumeClaim": {
            "claimName": settings.model_volume.claim, "readOnly": True}})
    return items


def pod_spec(server: Server) -> dict[str, Any]:
    settings = kube(server)
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": settings.grace_seconds,
        "securityContext": {"runAsNonRoot": True, "runAsUser": settings.run_as_user,
                            "runAsGroup": settings.run_as_user,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(server)],
        "volumes": volumes(server),
    }
    if settings.service_account is not None:
        spec["serviceAccountName"] = settings.service_account
    if server.runtime_options.replicas > 1:
        spec["topologySpreadConstraints"] = [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector_labels(server)}}]
    return spec


def deployment(server: Server) -> Manifest:
    startup = kube(server).startup_timeout_seconds
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": metadata(server, resource_name(server)),
            "spec": {
                "replicas": server.runtime_options.replicas,
                "selector": {"matchLabels": selector_labels(server)},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "progressDeadlineSeconds": max(600, startup + 120),
                "template": {
                    "metadata": {"labels": labels(server),
                                 "annotations": {RESTART_ANNOTATION: restart_hash(server)}},
                    "spec": pod_spec(server)}}}


def service(server: Server) -> Manifest:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": metadata(server, resource_name(server)),
            "spec": {"type": kube(server).service_type,
                     "selector": selector_labels(server),
                     "ports": [
                         {"name": "grpc", "port": server.ports.grpc, "targetPort": "grpc",
                          "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
                         {"name": "http", "port": server.ports.rest, "targetPort": "http",
                          "protocol": "TCP", "appProtocol": "http"}]}}


def pod_disruption_budget(server: Server) -> Manifest:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": metadata(server, resource_name(server)),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(server)}}}


def manifests(server: Server) -> list[Manifest]:
    """The server's objects in the order `kubectl apply` should create them."""
    items = [config_map(server), deployment(server), service(server)]
    if server.runtime_options.replicas > 1:
        items.append(pod_disruption_budget(server))
    return items
