"""Plans without live access, as a pull request's CI job makes them (subprocess: real exit codes).

Every test runs with the Docker engine unreachable (DOCKER_HOST is a socket that does not
exist) and no server running: `plan --against` and `plan --live` must not need either.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import invoke
from tests.support.paths import REPO
from tfsctl.live.baseline import converged_state
from tfsctl.live.snapshot import snapshot_document, write_snapshot
from tfsctl.spec.load import load_spec

EXAMPLES = sorted(p.name for p in (REPO / "examples").glob("*.yaml"))
#: A Docker socket that does not exist: the engine is unreachable.
DEAD_ENGINE = "unix:///nonexistent/tfsctl-tests/docker.sock"


def tfsctl(*args: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tfsctl.cli.main", *args], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "DOCKER_HOST": DEAD_ENGINE,
             "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)


def checkout(where: Path) -> Path:
    """The examples as a repository checked out at `where` (a `.git` marks its root)."""
    shutil.copytree(REPO / "examples", where / "examples",
                    ignore=shutil.ignore_patterns(".models"))
    (where / ".git").mkdir()
    return where


def converged_snapshot(spec: Path, out: Path, *, age: timedelta = timedelta(minutes=12)) -> None:
    """A snapshot of the servers exactly as `spec` leaves them, as the deploy job would take
    it after a successful apply (made without a server, from the spec)."""
    loaded = load_spec(spec)
    names = [s.name for s in loaded.spec.servers]
    write_snapshot(out, snapshot_document(loaded, converged_state(loaded, loaded, names), {},
                                          datetime.now(UTC) - age))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return checkout(tmp_path / "repo")


def edit(spec: Path, old: str, new: str) -> None:
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new))


@pytest.mark.parametrize("example", EXAMPLES)
def test_against_the_same_spec_is_no_change_and_exit_0(repo: Path, example: str) -> None:
    result = tfsctl("plan", "-f", f"examples/{example}", "--against", f"examples/{example}",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"Compared against the spec examples/{example}, as if it "
                                    "were applied and converged; no engine or server was "
                                    "contacted.")
    assert "No changes." in result.stdout


def test_against_a_changed_spec_exits_2_and_says_reload_or_replace(repo: Path) -> None:
    base = repo / "base.yaml"  # the base branch's spec, written out beside the checkout
    shutil.copy(repo / "examples/docker.yaml", base)
    spec = repo / "examples/docker.yaml"
    edit(spec, "          1: {source: {saved_model: models/half_plus_two/1}}",
         "          1: {source: {saved_model: models/half_plus_two/1}}\n"
         "          2: {source: {saved_model: models/half_plus_two/2}}\n"
         "        labels: {stable: 2}")
    result = tfsctl("plan", "-f", "examples/docker.yaml", "--against", "base.yaml",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "+ half_plus_two/2  export from SavedModel examples/models/half_plus_two/2" in result.stdout
    assert '~ server "hpt-docker" will be reloaded (model config only' in result.stdout
    assert "+ labels.stable: (none) -> 2" in result.stdout
    assert "engine" not in result.stdout.replace("no engine or server", "")

    edit(spec, "cpus: 1,", "cpus: 2,")
    replaced = tfsctl("plan", "-f", "examples/docker.yaml", "--against", "base.yaml",
                      "--detailed-exitcode", "--json", cwd=repo)
    assert replaced.returncode == 2, replaced.stderr
    plan = json.loads(replaced.stdout)
    assert plan["compared_against"] == {"kind": "spec", "source": "base.yaml", "taken_at": None,
                                        "age_seconds": None}
    # blue/green behind the proxy: a replace of a docker server has no downtime
    assert plan["servers"][0]["action"] == "replace" and plan["servers"][0]["downtime"] is False


def test_against_a_new_version_without_source_or_dir_is_an_error(repo: Path) -> None:
    shutil.copy(repo / "examples/half_plus_two.yaml", repo / "base.yaml")
    edit(repo / "examples/half_plus_two.yaml", "        labels: {stable: 1}",
         "          5: {}\n        policy: all\n        labels: {stable: 1}")
    result = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--against", "base.yaml",
                    cwd=repo)
    assert result.returncode == 1
    assert "Error [version-missing] half_plus_two/5: version 5 is not on disk at " \
           "examples/.models/half_plus_two/half_plus_two and has no source" in result.stdout


def test_against_reads_version_dirs_that_are_in_the_checkout(repo: Path) -> None:
    """A version committed under the model root is a file of the pull request: no error."""
    shutil.copy(repo / "examples/half_plus_two.yaml", repo / "base.yaml")
    edit(repo / "examples/half_plus_two.yaml", "        labels: {stable: 1}",
         "          2: {}\n        policy: all\n        labels: {stable: 1}")
    shutil.copytree(repo / "examples/models/half_plus_two/2",
                    repo / "examples/.models/half_plus_two/half_plus_two/2")
    result = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--against", "base.yaml",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "~ policy: latest 1 -> all" in result.stdout and "Error" not in result.stdout


def test_against_a_changed_source_for_an_existing_version_is_an_error(repo: Path) -> None:
    shutil.copy(repo / "examples/half_plus_two.yaml", repo / "base.yaml")
    edit(repo / "examples/half_plus_two.yaml", "saved_model: models/half_plus_two/1,",
         "saved_model: models/half_plus_three/1,")
    result = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--against", "base.yaml",
                    cwd=repo)
    assert result.returncode == 1
    assert "Error [source-changed] half_plus_two/1: the source of version 1 changed" in result.stdout


def test_an_invalid_base_spec_is_reported_against_its_own_file(repo: Path) -> None:
    (repo / "base.yaml").write_text("apiVersion: tfsctl/v1\nservers:\n  - name: x\n    polcy: 1\n")
    result = tfsctl("plan", "-f", "examples/docker.yaml", "--against", "base.yaml", cwd=repo)
    assert result.returncode == 1
    assert "base.yaml:4:5: error: unknown key 'polcy'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_live_snapshot_of_the_same_spec_is_no_change_and_says_its_age(repo: Path,
                                                                      example: str) -> None:
    converged_snapshot(repo / "examples" / example, repo / "live.json")
    result = tfsctl("plan", "-f", f"examples/{example}", "--live", "live.json",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Compared against the live-state snapshot live.json (taken ")
    assert ", 12 minutes old);" in result.stdout


def test_live_snapshot_taken_in_another_checkout_plans_like_there(tmp_path: Path) -> None:
    """The deploy machine's checkout is elsewhere: paths, base paths and runtime hashes in its
    snapshot still compare, and the plan's live fingerprint is the deploy machine's own."""
    deploy = checkout(tmp_path / "srv" / "deploy")
    review = checkout(tmp_path / "home" / "runner" / "work" / "r")
    converged_snapshot(deploy / "examples/multi_model.yaml", review / "live.json")
    same = tfsctl("plan", "-f", "examples/multi_model.yaml", "--live", "live.json",
                  "--detailed-exitcode", "--json", cwd=review)
    assert same.returncode == 0, same.stdout + same.stderr
    edit(review / "examples/multi_model.yaml", "canary: 2}", "canary: 1}")
    changed = tfsctl("plan", "-f", "examples/multi_model.yaml", "--live", "live.json",
                     "--detailed-exitcode", "--format", "markdown", cwd=review)
    assert changed.returncode == 2, changed.stdout + changed.stderr
    assert "server multi: reload (no downtime)" in changed.stdout
    assert str(tmp_path) not in changed.stdout
    loaded = load_spec(deploy / "examples/multi_model.yaml")
    there = converged_state(loaded, loaded, ["multi"]).fingerprint(str(loaded.base_dir))
    assert json.loads(same.stdout)["live_fingerprint"] == there


def test_live_snapshot_does_not_compare_or_store_secrets(repo: Path) -> None:
    spec = repo / "examples/docker.yaml"
    edit(spec, '    env: {TF_CPP_MIN_LOG_LEVEL: "2"}',
         '    env: {TF_CPP_MIN_LOG_LEVEL: "2"}\n    secret_env: {API_TOKEN: PRR_TOKEN}')
    os.environ["PRR_TOKEN"] = "s3cr3t-value"
    try:
        loaded = load_spec(spec)
        state = converged_state(loaded, loaded, ["hpt-docker"])
        document = snapshot_document(loaded, state, {"PRR_TOKEN": "s3cr3t-value"},
                                     datetime.now(UTC))
    finally:
        del os.environ["PRR_TOKEN"]
    write_snapshot(repo / "live.json", document)
    assert "s3cr3t-value" not in (repo / "live.json").read_text()
    result = tfsctl("plan", "-f", "examples/docker.yaml", "--live", "live.json",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "secret_env values were not compared" in result.stdout


def test_status_refuses_a_snapshot_when_the_engine_is_unreachable(repo: Path) -> None:
    result = tfsctl("status", "-f", "examples/docker.yaml", "--snapshot", "live.json", cwd=repo)
    assert result.returncode == 1
    assert "cannot snapshot 'hpt-docker': the Docker engine did not answer" in result.stderr
    assert not (repo / "live.json").exists()


def test_status_snapshot_then_plan_live_has_the_live_plans_fingerprint(repo: Path) -> None:
    """Nothing runs for the local example: the snapshot says so, and a plan against it is the
    plan against the live state (same changes, same fingerprint), with exit 2."""
    taken = tfsctl("status", "-f", "examples/half_plus_two.yaml", "--snapshot", "live.json",
                   cwd=repo)
    assert taken.returncode == 0, taken.stderr
    snapshot = json.loads((repo / "live.json").read_text())
    assert snapshot["kind"] == "tfsctl-live-snapshot" and snapshot["format_version"] == 1
    from_snapshot = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--live", "live.json",
                           "--json", "--detailed-exitcode", cwd=repo)
    live = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--json", cwd=repo)
    assert from_snapshot.returncode == 2, from_snapshot.stderr
    planned, observed = json.loads(from_snapshot.stdout), json.loads(live.stdout)
    assert planned["live_fingerprint"] == observed["live_fingerprint"]
    assert planned["servers"] == observed["servers"]
    assert planned["compared_against"]["kind"] == "snapshot"


@pytest.mark.parametrize("content", ["{}", "not json", '{"kind": "tfsctl-live-snapshot", '
                                     '"format_version": 99}'])
def test_a_bad_snapshot_is_a_clear_error(repo: Path, content: str) -> None:
    (repo / "live.json").write_text(content)
    result = tfsctl("plan", "-f", "examples/docker.yaml", "--live", "live.json", cwd=repo)
    assert result.returncode == 1
    assert "live.json" in result.stderr and "tfsctl status -f SPEC --snapshot" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plan_against_a_spec_cannot_be_applied_as_a_plan_file(repo: Path) -> None:
    made = tfsctl("plan", "-f", "examples/half_plus_two.yaml", "--against",
                  "examples/half_plus_two.yaml", "--out", "plan.json", cwd=repo)
    assert made.returncode == 0, made.stderr
    applied = tfsctl("apply", "plan.json", "--auto-approve", cwd=repo)
    assert applied.returncode == 1
    assert "plan.json was compared against the spec examples/half_plus_two.yaml, not against " \
           "the live state" in applied.stderr


def test_against_and_live_together_are_refused(repo: Path) -> None:
    result = tfsctl("plan", "-f", "examples/docker.yaml", "--against", "examples/docker.yaml",
                    "--live", "live.json", cwd=repo)
    assert result.returncode == 1 and "two different baselines" in result.stderr


def test_plans_are_byte_identical_in_two_checkouts(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The same examples checked out in two places give the same Markdown and JSON, live
    (engine unreachable) and against a spec, run from the root or from elsewhere. In
    process, to keep 24 plans fast."""
    first = checkout(tmp_path / "a")
    second = checkout(tmp_path / "elsewhere" / "b")
    env = {"DOCKER_HOST": DEAD_ENGINE}
    for example in EXAMPLES:
        for fmt in ("markdown", "json"):
            for against in (False, True):
                monkeypatch.chdir(first)
                spec = f"examples/{example}"
                one = invoke("plan", "--format", fmt, "-f", spec,
                             *(("--against", spec) if against else ()), env=env)
                monkeypatch.chdir(tmp_path)
                spec = str(second / "examples" / example)
                two = invoke("plan", "--format", fmt, "-f", spec,
                             *(("--against", spec) if against else ()), env=env)
                assert one.exception is None and two.exception is None, (one, two)
                assert one.out == two.out, (example, fmt, against)
                assert one.out and str(tmp_path) not in one.out
                assert one.code == two.code


def test_against_an_empty_file_everything_is_created(repo: Path) -> None:
    """The base branch has no spec yet (`git show` wrote nothing): every server is new."""
    (repo / "base.yaml").write_text("")
    result = tfsctl("plan", "-f", "examples/multi_model.yaml", "--against", "base.yaml",
                    "--detailed-exitcode", cwd=repo)
    assert result.returncode == 2, result.stdout + result.stderr
    assert '+ server "multi" will be created' in result.stdout
