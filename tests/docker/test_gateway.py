"""The NER example end to end on the docker runtime: server and gateway containers, a
sentence in, entities out, every error class, a handler change and a handler that fails
to import while the previous gateway container keeps serving; the handler's
`requirements` built into a derived image; and a handler change under concurrent
keep-alive and new-connection load that loses no request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_gateway import (
    check_error_classes,
    check_handler_change_and_broken_import,
    check_handler_change_under_load,
    check_status_and_destroy,
)
from tests.support.ner import ENTITIES, NerDeployment


@pytest.fixture
def ner(tmp_path: Path, serve_image: str, docker_client: Any) -> Iterator[NerDeployment]:
    for directory in (tmp_path, *tmp_path.parents):  # the container's user reads the handler
        if directory.stat().st_mode & 0o005 != 0o005 and directory.owner() == Path.home().owner():
            directory.chmod(directory.stat().st_mode | 0o005)
    deployment = NerDeployment(tmp_path, "docker", image=serve_image)
    deployment.prepare()
    try:
        yield deployment
    finally:
        deployment.tfsctl("destroy", "--auto-approve")


def test_ner_example_on_docker(ner: NerDeployment, docker_client: Any) -> None:
    first = ner.apply()
    assert first.returncode == 0, first.stderr
    assert "gateway 'ner-api': create done" in first.stdout
    assert ner.entities() == ENTITIES
    gateway = docker_client.containers.get(f"tfsctl-gw-{ner.server}-ner-api")
    assert gateway.image.tags[0].startswith("tfsctl-gateway:")  # requirements: [numpy]
    check_error_classes(ner)
    check_handler_change_and_broken_import(ner)
    check_status_and_destroy(ner)


def test_a_handler_change_under_load_loses_no_request(ner: NerDeployment) -> None:
    check_handler_change_under_load(ner)
