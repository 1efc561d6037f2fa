"""The NER example on `runtime: swarm`: the server's service behind its proxy, and its
gateway as a Swarm service on the manager's host network; a sentence in, entities out,
every error class, a handler change, a handler that fails to import while the previous
gateway service keeps serving, a gateway dropped from the spec, status and destroy; and
a handler change under keep-alive and new-connection load that loses no request."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from tests.e2e.test_gateway import (
    check_error_classes,
    check_handler_change_and_broken_import,
    check_handler_change_under_load,
    check_status_and_destroy,
)
from tests.support.images import SERVE_IMAGE
from tests.support.ner import ENTITIES, NerDeployment
from tests.support.swarm import SHARED

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def ner(swarm_manager: None) -> Iterator[NerDeployment]:
    # the model root is on the directory worker nodes share, should a swarm have workers
    root = SHARED / f"gateway-{os.getpid()}-{secrets.token_hex(3)}"
    root.mkdir(parents=True)
    for directory in (root, *root.parents):  # the container's user reads the handler
        if directory.stat().st_mode & 0o005 != 0o005 and directory.owner() == root.owner():
            directory.chmod(directory.stat().st_mode | 0o005)
    deployment = NerDeployment(root, "swarm", image=SERVE_IMAGE)
    deployment.prepare()
    try:
        yield deployment
    finally:
        deployment.tfsctl("destroy", "--auto-approve")
        shutil.rmtree(root, ignore_errors=True)


def _gateway_services(ner: NerDeployment) -> list[str]:
    import docker

    return sorted(s.name for s in docker.from_env(timeout=60).services.list(
        filters={"label": f"tfsctl.gateway.server={ner.server}"}))


def test_ner_example_on_swarm(ner: NerDeployment) -> None:
    first = ner.apply()
    assert first.returncode == 0, first.stdout + first.stderr
    assert '+ gateway "ner-api" (service on port' in first.stdout
    assert "gateway 'ner-api': create done" in first.stdout
    assert ner.entities() == ENTITIES
    base = f"tfsctl-gw-{ner.server}"
    assert _gateway_services(ner) == [f"{base}-ner-api-a", f"{base}-probe-a"]
    check_error_classes(ner)
    check_handler_change_and_broken_import(ner)  # the failed one is removed, -b serves
    assert _gateway_services(ner) == [f"{base}-ner-api-b", f"{base}-probe-a"]
    ner.handler.write_text(ner.handler.read_text(encoding="utf-8").replace(
        "import a_module_nobody_installed\n", ""), encoding="utf-8")  # the one serving
    ner.drop_gateway("probe")
    assert f'- gateway "probe" (service, server {ner.server}): destroyed' in ner.tfsctl(
        "plan").stdout
    assert ner.apply().returncode == 0
    assert _gateway_services(ner) == [f"{base}-ner-api-b"]
    check_status_and_destroy(ner)
    assert _gateway_services(ner) == []


def test_a_handler_change_under_load_loses_no_request(ner: NerDeployment) -> None:
    check_handler_change_under_load(ner)
