"""`tfsctl render --what kubernetes`: valid for real Kubernetes releases, and right.

The manifests are checked offline against the Kubernetes OpenAPI schemas that
kubernetes-validate ships (strict: unknown fields are errors), for the newest
release it knows and older ones, and semantically against what tfsctl itself
renders for the same spec.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, latest_version

from tests.unit.test_cli_spec import REPO, tfsctl
from tfsctl.kubernetes.manifests import (
    CONFIG_DIR,
    PROBE_FILE,
    PROBE_MODELS_FILE,
    RESTART_ANNOTATION,
    manifests,
)
from tfsctl.serverconfig.model_config import parse_text
from tfsctl.spec.load import load_spec
from tfsctl.spec.model import Server

EXAMPLE = REPO / "examples" / "kubernetes.yaml"
RENDERED = REPO / "examples" / "kubernetes" / "serving.yaml"
#: The newest release kubernetes-validate ships, the oldest the Kubernetes project still
#: supports beside it (three minor releases), and the oldest it ships (1.25 in its 1.37).
RELEASES = [latest_version(), f"1.{int(latest_version().split('.')[1]) - 2}", all_versions()[0]]

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: tfs
    replicas: {replicas}
    model_root: models
    batching: {{max_batch_size: {batch}}}
    monitoring: {{prometheus: true}}
    resources: {{cpus: 0.5, memory: 1GiB}}
    secret_env: {{API_TOKEN: CI_API_TOKEN}}
    kubernetes: {{model_volume: {{claim: models}}, secret: tfs-secrets}}
    models:
      - name: a
        policy: {{specific: [{versions}]}}
        versions: {{{declared}}}
        labels: {{stable: {stable}}}
      - name: b
"""


def _server(tmp_path: Path, replicas: int = 1, batch: int = 32, versions: str = "1",
            stable: int = 1) -> Server:
    declared = ", ".join(f"{v}: {{}}" for v in versions.split(", "))
    path = tmp_path / f"spec-{replicas}-{batch}-{versions}-{stable}.yaml".replace(", ", "_")
    path.write_text(SPEC.format(replicas=replicas, batch=batch, versions=versions,
                                declared=declared, stable=stable))
    return load_spec(path).spec.servers[0]


def _documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _by_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    result = tfsctl("render", "-f", str(EXAMPLE.relative_to(REPO)), "--what", "kubernetes")
    assert result.returncode == 0, result.stderr
    return _documents(result.stdout)


def test_committed_rendering_of_the_example_is_current() -> None:
    result = tfsctl("render", "-f", str(EXAMPLE.relative_to(REPO)), "--what", "kubernetes")
    assert result.returncode == 0, result.stderr
    assert result.stdout == RENDERED.read_text(), (
        "examples/kubernetes/serving.yaml is stale: run `tfsctl render -f "
        "examples/kubernetes.yaml --what kubernetes > examples/kubernetes/serving.yaml`")


@pytest.mark.parametrize("release", RELEASES)
def test_every_object_is_valid_for_the_release(rendered: list[dict[str, Any]], release: str
                                               ) -> None:
    assert {doc["kind"] for doc in rendered} == {"ConfigMap", "Deployment", "Service",
                                                 "PodDisruptionBudget"}
    for document in rendered:
        kubernetes_validate.validate(document, release, strict=True)


def test_the_validator_rejects_what_a_cluster_would(rendered: list[dict[str, Any]]) -> None:
    """The schema check above can fail: a misspelt field and a wrong type are caught."""
    deployment = copy.deepcopy(_by_kind(rendered, "Deployment")[0])
    _container(deployment)["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)
    deployment = copy.deepcopy(_by_kind(rendered, "Deployment")[0])
    deployment["spec"]["replicas"] = "3"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)


def _config_map(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(doc for doc in _by_kind(documents, "ConfigMap")
                if doc["metadata"]["name"] == f"{name}-config")


def _deployment(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(doc for doc in _by_kind(documents, "Deployment")
                if doc["metadata"]["name"] == name)


def test_config_map_model_config_is_what_tfsctl_renders(rendered: list[dict[str, Any]]) -> None:
    """On a claim, base paths are the docker runtime's (/models/...), byte for byte."""
    result = tfsctl("render", "-f", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert _config_map(rendered, "serving")["data"]["model.config"] == result.stdout


GCS_SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: tfs
    runtime: local
    model_root: models
    kubernetes:
      model_uri: gs://example-models/serving/
      service_account: tfs-model-reader
      resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 1Gi}}
    models:
      - {name: a, base_path: team/a, labels: {stable: 3}, versions: {3: {}}, policy: all}
      - name: b
"""


def test_gcs_base_paths_keep_their_place_under_the_uri(tmp_path: Path) -> None:
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text(GCS_SPEC)
    host = parse_text(tfsctl("render", "-f", str(spec)).stdout)
    documents = _documents(tfsctl("render", "-f", str(spec), "--what", "kubernetes").stdout)
    pod = parse_text(_config_map(documents, "tfs")["data"]["model.config"])
    assert [e.base_path for e in pod] == ["gs://example-models/serving/team/a",
                                          "gs://example-models/serving/b"]
    assert [(e.name, e.policy, e.labels) for e in pod] == [(e.name, e.policy, e.labels)
                                                            for e in host]
    deployment = _deployment(documents, "tfs")
    spec_ = deployment["spec"]["template"]["spec"]
    assert [v["name"] for v in spec_["volumes"]] == ["config", "tmp"]
    assert "/models" not in [m["mountPath"] for m in _container(deployment)["volumeMounts"]]
    assert spec_["serviceAccountName"] == "tfs-model-reader"
    assert _container(deployment)["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                   "limits": {"memory": "1Gi"}}
    assert _config_map(documents, "tfs")["data"][PROBE_MODELS_FILE] == "a 3\nb\n"
    for document in documents:
        kubernetes_validate.validate(document, latest_version(), strict=True)


def test_args_point_at_the_mounted_files(rendered: list[dict[str, Any]]) -> None:
    name = "serving"
    files = _config_map(rendered, name)["data"]
    deployment = _deployment(rendered, name)
    container = _container(deployment)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_mount = mounts[CONFIG_DIR]
    assert volumes[config_mount["name"]]["configMap"]["name"] == f"{name}-config"
    assert "subPath" not in config_mount and "items" not in volumes[config_mount["name"]][
        "configMap"], "a subPath or item mount is never updated in place"
    paths = {arg.split("=", 1)[1] for arg in container["args"] if arg.split("=")[0].endswith(
        "_file")}
    assert f"{CONFIG_DIR}/model.config" in paths
    assert {path.rsplit("/", 1)[1] for path in paths} <= set(files)
    assert all(path.startswith(CONFIG_DIR + "/") for path in paths)
    flags = dict(arg.split("=", 1) for arg in container["args"])
    assert int(flags["--model_config_file_poll_wait_seconds"]) > 0
    assert ("--enable_batching" in flags) == ("batching.config" in files)
    for entry in parse_text(files["model.config"]):
        if entry.base_path.startswith("/"):
            mount = mounts["/models"]
            assert entry.base_path.startswith("/models/") and mount["readOnly"] is True
            assert volumes[mount["name"]]["persistentVolumeClaim"]["readOnly"] is True


def test_the_probes_cover_every_model(rendered: list[dict[str, Any]]) -> None:
    name = "serving"
    files = _config_map(rendered, name)["data"]
    models = [entry.name for entry in parse_text(files["model.config"])]
    container = _container(_deployment(rendered, name))
    expected = [line.split()[0] for line in files[PROBE_MODELS_FILE].splitlines()]
    assert expected == models
    script = f"{CONFIG_DIR}/{PROBE_FILE}"
    assert container["startupProbe"]["exec"]["command"] == ["bash", script]
    assert container["readinessProbe"]["exec"]["command"] == ["bash", script, "--serving",
                                                              *models]
    assert files[PROBE_FILE].startswith("# Is this TensorFlow Serving ready?")


def test_startup_probe_waits_for_each_version_of_a_specific_policy(
        rendered: list[dict[str, Any]]) -> None:
    lines = _config_map(rendered, "serving")["data"][PROBE_MODELS_FILE].splitlines()
    assert lines == ["half_plus_two 1 2", "half_plus_three"]


def test_rollouts_never_drop_below_replicas_and_pods_are_locked_down(
        rendered: list[dict[str, Any]]) -> None:
    deployment = _deployment(rendered, "serving")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    drain = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert 0 < drain < pod["terminationGracePeriodSeconds"]
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                      "limits": {"cpu": "2", "memory": "4Gi"}}
    for document in rendered:
        labels = document["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "tfsctl"
        assert labels["app.kubernetes.io/name"] == "tensorflow-serving"


def test_disruption_budget_only_with_replicas(rendered: list[dict[str, Any]]) -> None:
    (budget,) = _by_kind(rendered, "PodDisruptionBudget")
    assert budget["metadata"]["name"] == "serving"
    service = next(d for d in _by_kind(rendered, "Service") if d["metadata"]["name"] == "serving")
    assert budget["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_version_and_label_changes_stay_in_the_config_map(tmp_path: Path) -> None:
    """Only the ConfigMap differs, so the pods keep running and poll the new model.config;
    a batching change alters the pod template's restart hash, so the pods roll."""
    before = manifests(_server(tmp_path))
    moved = manifests(_server(tmp_path, versions="1, 2", stable=2))
    assert before[0]["data"]["model.config"] != moved[0]["data"]["model.config"]
    assert before[1:] == moved[1:]
    rebatched = manifests(_server(tmp_path, batch=64))
    annotations = [items[1]["spec"]["template"]["metadata"]["annotations"][RESTART_ANNOTATION]
                   for items in (before, rebatched)]
    assert annotations[0] != annotations[1]


def test_secrets_come_from_a_secret_never_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    monkeypatch.setenv("CI_API_TOKEN", "hunter2-value")
    items = manifests(_server(tmp_path))
    assert "hunter2-value" not in yaml.safe_dump_all(items)
    (variable,) = _container(items[1])["env"]
    assert variable == {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "tfs-secrets", "key": "CI_API_TOKEN"}}}


def test_replicas_and_budget_follow_the_spec(tmp_path: Path) -> None:
    assert [m["kind"] for m in manifests(_server(tmp_path))] == ["ConfigMap", "Deployment",
                                                                 "Service"]
    items = manifests(_server(tmp_path, replicas=2))
    assert items[-1]["kind"] == "PodDisruptionBudget" and items[1]["spec"]["replicas"] == 2


def test_a_server_without_a_kubernetes_block_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "tfsctl.yaml"
    spec.write_text("apiVersion: tfsctl/v1\nservers:\n  - name: plain\n")
    result = tfsctl("render", "-f", str(spec), "--what", "kubernetes")
    assert result.returncode == 1
    assert "no `kubernetes:` block for server plain" in result.stderr
    assert "fix: add one" in result.stderr and "Traceback" not in result.stderr

