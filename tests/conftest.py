"""Shared fixtures: where the test data lives, and the deployments e2e and reliability tests run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployment import Deployment
from tests.support.paths import REPO, SHARED_TESTDATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tfs_testdata() -> Path:
    """TensorFlow Serving's own test data, beside the checkout (read-only: never write there)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"test data not found at {SHARED_TESTDATA}: check out the repo beside ../shared")
    return SHARED_TESTDATA


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A fresh project dir on each runtime, destroyed after the test (whatever happened)."""
    deploy = Deployment(root=tmp_path / "project", runtime=request.param)
    deploy.root.mkdir()
    try:
        yield deploy
    finally:
        if deploy.spec_file.exists():
            deploy.tfsctl("destroy", "-f", str(deploy.spec_file), "--auto-approve")


pytest_plugins = ["tests.reliability.tally"]
