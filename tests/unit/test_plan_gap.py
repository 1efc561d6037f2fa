"""A replace that stops the server (here a local process: it cannot start the new one
beside it) says how long the server will not answer, from the gap measured last time."""

from __future__ import annotations

from pathlib import Path

from tests.unit.plan_fixtures import live_state
from tfsctl.plan.diff import build_plan
from tfsctl.plan.model import HazardKind
from tfsctl.spec.load import load_spec

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: default
    runtime: local
    model_root: /srv/models
    models:
      - name: half_plus_two
        versions: {1: {}}
"""


def _downtime_message(tmp_path: Path, last_applied: dict | None) -> str:
    spec_file = tmp_path / "tfsctl.yaml"
    spec_file.write_text(SPEC)
    loaded = load_spec(spec_file)
    server: dict = {"runtime": {"status": "running", "config_hash": "old-hash"},
                    "model_config": "<desired>", "model_dirs": {"half_plus_two": {"versions": [1]}},
                    "report": {"half_plus_two": {1: "AVAILABLE"}}}
    if last_applied is not None:
        server["last_applied"] = last_applied
    plan = build_plan(loaded, live_state(loaded.spec, {"default": server}, {}), sources={}, secrets={})
    [hazard] = [h for h in plan.servers[0].hazards if h.kind is HazardKind.DOWNTIME]
    return hazard.message


def test_the_measured_gap_is_quoted(tmp_path: Path) -> None:
    message = _downtime_message(tmp_path, {"model_config": "<desired>", "start_gap_seconds": 3.24})
    assert "about 3.2s" in message and "2026-01-01" in message


def test_an_unmeasured_gap_says_so(tmp_path: Path) -> None:
    assert "not measured on this server yet" in _downtime_message(tmp_path, None)
