"""The checked-in tfsctl/protos/*_pb2 modules are what scripts/gen_protos.py makes of the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # prediction_service.proto's imports are read from TensorFlow's modules
def test_generated_protos_are_current() -> None:
    pytest.importorskip("grpc_tools")
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_protos.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
