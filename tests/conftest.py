"""Shared fixtures: where the test data lives, and markers' skip rules."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO_ROOT.parent / "shared" / "testdata" / "tensorflow_serving"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def tfs_testdata() -> Path:
    """TensorFlow Serving's own test data, beside the checkout (read-only: never write there)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"test data not found at {SHARED_TESTDATA}: check out the repo beside ../shared")
    return SHARED_TESTDATA


pytest_plugins = ["tests.reliability.tally"]
