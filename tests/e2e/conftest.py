"""End-to-end fixtures: real servers, real models, the real CLI in a subprocess.

Each test gets its own model root, state dir and free loopback ports, and
everything it starts is destroyed afterwards (even when it fails). The
`deployment` fixture, shared with tests/reliability, is in tests/conftest.py;
the `Deployment` class in tests/support/deployment.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.models import writable_copies


@pytest.fixture
def tfs_models(tfs_testdata: Path, tmp_path: Path) -> Path:
    """Writable copies of TF Serving's half_plus_two/three test models."""
    return writable_copies(tfs_testdata, ("saved_model_half_plus_two_cpu", "saved_model_half_plus_three"),
                           tmp_path / "sources")
