"""Live-state snapshots: the file is the observed state, field for field, and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tfsctl.errors import TfsctlError
from tfsctl.live.baseline import converged_state
from tfsctl.live.snapshot import read_snapshot, snapshot_document, write_snapshot
from tfsctl.live.state import (
    ExportRecord,
    LastApplied,
    LiveGateway,
    LiveState,
    RuntimeStatus,
    ServedModel,
    ServerReport,
    VersionDir,
)
from tfsctl.runtimes.gateway import GatewayState
from tfsctl.spec.load import LoadedSpec, load_spec

TAKEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def loaded() -> LoadedSpec:
    return load_spec(REPO / "examples/multi_model.yaml")


def rich_state(loaded: LoadedSpec) -> LiveState:
    """A converged state with every optional part filled in: history, records, errors, a
    gateway."""
    server = converged_state(loaded, loaded, ["multi"]).servers[0]
    name, first = server.model_dirs[0]
    first = replace(first, versions=(*first.versions, VersionDir(9, "00000009", False,
                                                                 "no saved_model.pb", "ab12")),
                    exports=(ExportRecord(1, "saved_model", "/src/1", "f" * 64),),
                    ignored=("README",), temporary=(".tfsctl-tmp-3",))
    return LiveState((replace(
        server, model_dirs=((name, first), *server.model_dirs[1:]),
        report=replace(server.report, models=(*server.report.models,
                                              ServedModel("gone", error="NOT_FOUND"))),
        last_applied=LastApplied(4, "2026-11-30T10:00:00+00:00", "d" * 64, "text", "h" * 32,
                                 2.5, "2026-11-30T10:00:05+00:00"),
        unmanaged_models=("old_model",), interrupted_apply="pid 12, started 2026-11-30"),),
        (LiveGateway("api", "multi", GatewayState(
            RuntimeStatus.RUNNING, "c" * 32, (("models", ["a", "b"]), ("port", 8600)), "e" * 64,
            "4242")),))


def test_round_trip_is_exact_and_keeps_the_fingerprint(loaded: LoadedSpec, tmp_path: Path) -> None:
    state = rich_state(loaded)
    write_snapshot(tmp_path / "live.json", snapshot_document(loaded, state, {}, TAKEN))
    snapshot = read_snapshot(tmp_path / "live.json")
    assert snapshot.state == state
    assert snapshot.state.fingerprint() == state.fingerprint()
    assert snapshot.taken_at == TAKEN and snapshot.spec_path == loaded.file.resolve()
    assert snapshot.age_seconds(datetime(2026, 12, 1, 10, 15, tzinfo=UTC)) == 2700


def test_the_settings_hash_is_recorded_only_for_a_runtime_running_its_spec(
        loaded: LoadedSpec) -> None:
    state = rich_state(loaded)
    document = snapshot_document(loaded, state, {}, TAKEN)
    assert document["servers"][0]["runtime_settings_hash"] == state.servers[0].runtime.config_hash
    edited = LiveState((replace(state.servers[0], runtime=replace(
        state.servers[0].runtime, config_hash="recreated-by-hand")),))
    assert snapshot_document(loaded, edited, {}, TAKEN)["servers"][0][
        "runtime_settings_hash"] is None


def test_an_unreachable_engine_is_not_snapshotted(loaded: LoadedSpec) -> None:
    state = rich_state(loaded)
    down = LiveState((replace(state.servers[0], runtime=replace(
        state.servers[0].runtime, status=RuntimeStatus.UNREACHABLE), report=ServerReport(False)),))
    with pytest.raises(TfsctlError, match="the Docker engine did not answer"):
        snapshot_document(loaded, down, {}, TAKEN)


def test_unknown_fields_are_ignored_and_missing_ones_named(loaded: LoadedSpec,
                                                           tmp_path: Path) -> None:
    document = snapshot_document(loaded, rich_state(loaded), {}, TAKEN)
    document["servers"][0]["added_by_a_newer_tfsctl"] = {"x": 1}
    (tmp_path / "new.json").write_text(json.dumps(document))
    assert read_snapshot(tmp_path / "new.json").state == rich_state(loaded)
    del document["servers"][0]["runtime"]
    (tmp_path / "broken.json").write_text(json.dumps(document))
    with pytest.raises(TfsctlError, match=r"malformed: servers\[0\]: no 'runtime'"):
        read_snapshot(tmp_path / "broken.json")


def _keys(value: object) -> set[str]:
    """Every key of the JSON, except those that are data (model, file, label and setting
    names)."""
    if isinstance(value, dict):
        data_keys = {"model_dirs", "side_files", "labels", "settings"}
        return set(value) | {k for key, v in value.items() for k in
                             (_keys(v) if key not in data_keys else
                              set().union(*map(_keys, v.values())) if isinstance(v, dict) else ())}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_field_is_documented(loaded: LoadedSpec) -> None:
    doc = (REPO / "docs/live-snapshot.md").read_text(encoding="utf-8")
    document = snapshot_document(loaded, rich_state(loaded), {}, TAKEN)
    undocumented = sorted(k for k in _keys(document) if f"`{k}`" not in doc)
    assert not undocumented, f"document these fields in docs/live-snapshot.md: {undocumented}"
    example = doc.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert _keys(json.loads(example)) <= _keys(document)  # the example names no unknown field
