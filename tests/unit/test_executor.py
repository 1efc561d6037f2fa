"""The apply sequence and its rollback, with the world replaced by recording fakes.

The real thing is exercised end to end in tests/e2e; these pin down the order
of effects (reload before writing model.config, load before label) and what
a failure puts back, which are hard to observe from outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.plan_fixtures import live_state
from tfsctl.apply.executor import ApplyContext, ApplyFailed, apply_server
from tfsctl.apply.recovery import recover
from tfsctl.apply.wait import ServingFailed
from tfsctl.errors import TfsctlError
from tfsctl.journal import RuntimeUndo, RuntimeUndoKind, load_journal
from tfsctl.live.state import ServedModel, ServedVersion, VersionState
from tfsctl.plan.diff import build_plan
from tfsctl.serverconfig.model_config import parse_text
from tfsctl.spec.load import load_spec

SPEC = """\
apiVersion: tfsctl/v1
servers:
  - name: default
    model_root: {root}
    models:
      - name: m
        policy: {{specific: [1, 2]}}
        versions:
          1: {{}}
          2: {{source: {{saved_model: {root}/../src}}}}
        labels: {{stable: 2}}
"""
LIVE_CONFIG = """model_config_list { config { name: "m" base_path: "/models/m"
  model_platform: "tensorflow" model_version_policy { specific { versions: 1 } }
  version_labels { key: "stable" value: 1 } } }"""


class World:
    """Records every effect in order; `fail_at` makes one of them fail."""

    def __init__(self, root: Path, fail_at: str | None = None):
        self.root, self.fail_at, self.log = root, fail_at, []
        self.available: set[int] = {1}

    def _step(self, name: str) -> None:
        self.log.append(name)
        if name == self.fail_at:
            raise ServingFailed(f"{name} failed")

    def reload(self, entries: Any) -> None:
        labels = dict(entries[0].labels) if entries else {}
        self._step(f"reload stable={labels.get('stable')}")
        self.available = set(entries[0].policy.specific) if entries else set()

    def export(self, version: Any, target: Path, progress: Any) -> None:
        self._step(f"export {target.name}")
        target.mkdir(parents=True)
        (target / "saved_model.pb").write_text("x")

    def probe(self, model: str) -> ServedModel:
        self._step("probe")
        return ServedModel(model, tuple(ServedVersion(v, VersionState.AVAILABLE)
                                        for v in sorted(self.available)))

    def predict(self, *args: Any) -> dict[str, Any]:
        return {}

    def context(self) -> ApplyContext:
        return ApplyContext(driver=Driver(self.root.parent / "state"),  # type: ignore[arg-type]
                            probe=self.probe, reload=self.reload,
                            export=self.export, predict=self.predict, timeout=5)


class Driver:
    """A runtime the executor never has to change (the plans here only reload)."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    def check_started(self) -> None:
        """Nothing was started: there is nothing to watch."""


def _setup(tmp_path: Path):
    root = tmp_path / "models"
    (root / "m" / "1").mkdir(parents=True)
    (root / "model.config").write_text(LIVE_CONFIG)
    spec_file = tmp_path / "tfsctl.yaml"
    spec_file.write_text(SPEC.format(root=root))
    loaded = load_spec(spec_file)
    server = loaded.spec.servers[0]
    live = live_state(loaded.spec, {"default": {
        "runtime": {"status": "running", "config_hash": "<desired>"},
        "model_config": LIVE_CONFIG, "model_dirs": {"m": {"versions": [1]}},
        "report": {"m": {1: "AVAILABLE"}}}}, {})
    plan = build_plan(loaded, live, sources={}, secrets={})
    return server, plan.execution[0], live.servers[0], None, root


def test_load_first_then_label_then_write_config(tmp_path: Path) -> None:
    server, plan, live, desired, root = _setup(tmp_path)
    world = World(root)
    report = apply_server(plan, live, desired, world.context())
    steps = [s for s in world.log if s != "probe"]
    assert steps == ["export 2", "reload stable=1", "reload stable=2"]
    written = parse_text((root / "model.config").read_text())
    assert written[0].label_map == {"stable": 2}
    assert report.exported == ["m/2"]


def test_failure_restores_config_and_removes_exported_versions(tmp_path: Path) -> None:
    server, plan, live, desired, root = _setup(tmp_path)
    world = World(root, fail_at="reload stable=2")
    with pytest.raises(ApplyFailed) as caught:
        apply_server(plan, live, desired, world.context())
    assert not (root / "m" / "2").exists(), "the version this apply exported is gone again"
    assert (root / "m" / "1").exists(), "existing versions are never touched"
    assert (root / "model.config").read_text() == LIVE_CONFIG
    effects = [s for s in world.log if s != "probe"]
    assert effects[-1] == "reload stable=1", "the previous config was reloaded"
    assert world.log[-1] == "probe", "then the rollback waited until version 1 serves again"
    assert "removed new version dir" in caught.value.notes[0]
    assert "serving m [1] again" in caught.value.notes[0]
    assert "at step reload-config" in caught.value.message


def test_the_failures_own_fix_keeps_the_fix_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An exporter's hint ("use 'x:0'") used to be replaced by the rollback note; the note
    now has its own line after the fix."""
    server, plan, live, desired, root = _setup(tmp_path)
    world = World(root)

    def export(version: Any, target: Path, progress: Any) -> None:
        raise TfsctlError("the checkpoint's graph has no input tensor 'x'", "use a name like 'x:0'")

    world.export = export  # type: ignore[method-assign]
    with pytest.raises(ApplyFailed) as caught:
        apply_server(plan, live, desired, world.context())
    assert caught.value.hint == "use a name like 'x:0'"
    assert caught.value.notes[0].startswith("rollback: ")

    from tfsctl.cli import main

    def failing() -> None:
        raise caught.value

    main.cli.add_command(main.click.command(name="fail-for-test")(failing))
    try:
        assert main.run(["fail-for-test"]) == 1
    finally:
        main.cli.commands.pop("fail-for-test")
    err = capsys.readouterr().err.splitlines()
    fix = next(i for i, line in enumerate(err) if line.startswith("  fix: "))
    assert err[fix] == "  fix: use a name like 'x:0'"
    assert err[fix + 1].startswith("  rollback: "), err


@pytest.mark.parametrize(("answer", "restored"), [
    ({"predictions": [2.5]}, "serving m [1] again, its 1 smoke request(s) pass"),
    ({"predictions": [9.0]}, "NOT restored: the previous smoke requests fail: m: before"),
])
def test_a_rollback_is_restored_once_the_last_applies_smoke_requests_pass(
        tmp_path: Path, answer: dict[str, Any], restored: str) -> None:
    import dataclasses

    from tfsctl.live.state import LastApplied
    from tfsctl.spec.model_spec import SmokeTest

    server, plan, live, desired, root = _setup(tmp_path)
    smoke = SmokeTest(name="before", request={"instances": [1.0]}, expect={"predictions": [2.5]})
    live = dataclasses.replace(live, last_applied=LastApplied(
        1, "2026-01-01T00:00:00Z", "d", LIVE_CONFIG, None, smoke=(("m", (smoke,)),)))
    world = World(root, fail_at="reload stable=2")
    world.predict = lambda *args: answer  # type: ignore[method-assign]
    with pytest.raises(ApplyFailed) as caught:
        apply_server(plan, live, desired, world.context())
    assert restored in caught.value.notes[0], caught.value.notes


def test_a_source_changed_since_the_plan_is_refused_before_any_change(tmp_path: Path) -> None:
    server, plan, live, desired, root = _setup(tmp_path)
    import dataclasses

    from tfsctl.plan.execution import ExportVersion

    source = tmp_path / "src"
    source.mkdir()
    (source / "saved_model.pb").write_text("the reviewed graph")
    steps = tuple(dataclasses.replace(s, source_digest="0" * 64) if isinstance(s, ExportVersion)
                  else s for s in plan.steps)
    world = World(root)
    with pytest.raises(TfsctlError, match=r"source of m/2 changed since the plan was made: .*src"):
        apply_server(dataclasses.replace(plan, steps=steps), live, desired, world.context())
    assert world.log == [] and not (root / "m" / "2").exists()
    assert load_journal(root.parent / "state") is None, "nothing was started"


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in-process gets to roll back."""


class Ops:
    """A runtime whose server can be gone (`alive`), recording what it is asked."""

    def __init__(self, alive: bool = True, undo_fails: bool = False):
        self.alive, self.undo_fails, self.log = alive, undo_fails, []

    def undo(self, undo: Any) -> None:
        self.log.append(f"undo {undo.kind}")
        if self.undo_fails:
            raise ServingFailed("the engine is away")

    def commit(self, undo: Any) -> None:
        self.log.append(f"commit {undo.kind}")

    def revive(self) -> bool:
        self.log.append("revive")
        revived, self.alive = not self.alive, True
        return revived

    def wait_answering(self, timeout: float) -> None:
        self.log.append("wait until it answers")


def _killed_at(tmp_path: Path, step: str) -> tuple[World, Path, Path]:
    """An apply killed at `step`: its journal is left behind, nothing was rolled back."""
    server, plan, live, desired, root = _setup(tmp_path)
    world = World(root)

    def kill(name: str) -> None:
        world.log.append(name)
        if name == step:
            raise Killed

    world._step = kill  # type: ignore[method-assign]
    with pytest.raises(Killed):
        apply_server(plan, live, desired, world.context())
    del world._step  # the recording World again, for what runs after the kill
    return world, root, root.parent / "state"


def test_a_killed_apply_is_undone_from_its_journal(tmp_path: Path) -> None:
    world, root, state_dir = _killed_at(tmp_path, "reload stable=2")
    assert load_journal(state_dir) is not None
    assert (root / "m" / "2").exists()
    restored = recover(state_dir, Ops(), world.reload)  # type: ignore[arg-type]
    assert restored is not None and "previous model config (reloaded)" in restored
    assert not (root / "m" / "2").exists(), "the version the killed apply exported is gone"
    assert (root / "model.config").read_text() == LIVE_CONFIG
    assert world.log[-1] == "reload stable=1"
    assert load_journal(state_dir) is None, "a finished undo deletes the journal"
    assert recover(state_dir, Ops(), world.reload) is None  # type: ignore[arg-type]


def test_a_server_gone_during_apply_is_started_again_with_the_previous_config(tmp_path: Path) -> None:
    world, root, state_dir = _killed_at(tmp_path, "reload stable=2")
    ops = Ops(alive=False)
    world.fail_at = "reload stable=1"  # the server does not answer any more
    restored = recover(state_dir, ops, world.reload)  # type: ignore[arg-type]
    assert ops.log == ["revive", "wait until it answers"], "restored means answering again"
    assert restored is not None and any("started it again" in r for r in restored)
    assert (root / "model.config").read_text() == LIVE_CONFIG


def test_an_undo_that_fails_keeps_the_journal_for_the_next_attempt(tmp_path: Path) -> None:
    world, root, state_dir = _killed_at(tmp_path, "reload stable=2")
    journal = load_journal(state_dir)
    assert journal is not None
    journal.runtime = RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS, True, {"args": ["--port=1"]})
    journal.save(state_dir)
    with pytest.raises(TfsctlError, match="recovering the interrupted apply.*engine is away"):
        recover(state_dir, Ops(undo_fails=True), world.reload)  # type: ignore[arg-type]
    kept = load_journal(state_dir)
    assert kept is not None and kept.runtime == journal.runtime
    assert (root / "model.config").read_text() == LIVE_CONFIG, "what could be undone was"
    assert recover(state_dir, Ops(), world.reload) is not None  # type: ignore[arg-type]
    assert load_journal(state_dir) is None


def test_a_successful_apply_leaves_no_journal(tmp_path: Path) -> None:
    server, plan, live, desired, root = _setup(tmp_path)
    apply_server(plan, live, desired, World(root).context())
    assert load_journal(root.parent / "state") is None


def test_a_verified_apply_killed_before_its_clean_up_is_finished_not_undone(tmp_path: Path) -> None:
    world, root, state_dir = _killed_at(tmp_path, "reload stable=2")
    journal = load_journal(state_dir)
    assert journal is not None
    journal.runtime, journal.committed = RuntimeUndo(RuntimeUndoKind.RESTORE_PREVIOUS), True
    journal.save(state_dir)
    ops = Ops()
    assert recover(state_dir, ops, world.reload) is not None  # type: ignore[arg-type]
    assert ops.log == ["commit restore-previous"], "the old container is dropped, not restored"
    assert (root / "m" / "2").exists(), "the verified apply's version stays"
    assert load_journal(state_dir) is None


def test_signals_during_a_rollback_wait_until_it_is_done() -> None:
    import os
    import signal

    from tfsctl.apply.executor import signals_deferred

    finished = False
    # the handlers this process started with (SIGINT's is "ignore" in a background job)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(KeyboardInterrupt), signals_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        finished = True
    assert finished, "the block ran to its end; the interrupt came after"
    assert {sig: signal.getsignal(sig) for sig in before} == before, "the handlers are put back"
