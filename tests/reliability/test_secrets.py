"""A value marked secret (`secret_env`) never appears in what tfsctl prints or writes:
plan text, JSON, Markdown, saved plans, apply output, history, status, the journal,
the guardian's and the server's logs. Only the server's own environment holds it."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.reliability.tally import Tally
from tests.support.deployment import Deployment, hpt_model
from tests.support.sandbox import files_holding as _files_holding
from tfsctl.cli.main import run

SECRET_SOURCE = "TFSCTL_TEST_SECRET"


def _server_environment(d: Deployment) -> str:
    """The running server's own environment: the one place the value belongs."""
    if d.runtime == "docker":
        out = subprocess.run(["docker", "inspect", f"tfsctl-{d.name}"], check=True, text=True,
                             capture_output=True).stdout
        return "\n".join(json.loads(out)[0]["Config"]["Env"])
    pid = int((d.root / "models" / ".tfsctl" / "server.pid").read_text())
    return Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv(SECRET_SOURCE, value)
    monkeypatch.setenv("NO_COLOR", "1")
    return value


def test_plan_outputs_never_show_a_secret(tmp_path: Path, secret: str, tally: Tally,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    d = Deployment(root=tmp_path / "project", runtime="local")
    d.root.mkdir()
    d.write([hpt_model([1], 1)], secret_env={"API_TOKEN": SECRET_SOURCE})
    spec = str(d.spec_file)
    for argv in (["plan", "-f", spec], ["plan", "-f", spec, "--json"],
                 ["plan", "-f", spec, "--format", "markdown"],
                 ["plan", "-f", spec, "--out", str(tmp_path / "saved.plan")],
                 ["render", "-f", spec, "--what", "all"], ["status", "-f", spec], ["validate", spec],
                 ["history", "-f", spec]):
        code = run(argv)
        out, err = capsys.readouterr()
        assert code in (0, 2), (argv, err)
        assert secret not in out + err, argv
        tally.add("secret leak checks")
    assert not _files_holding(tmp_path, secret)


@pytest.mark.slow
def test_apply_history_and_logs_never_hold_a_secret(deployment: Deployment, secret: str, tally: Tally,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Both runtimes (the docker one marked `docker`): apply, a rotated value, history,
    status, a failing apply and its rollback, destroy; then every file under the project."""
    d = deployment
    try:
        d.write([hpt_model([1], 1)], secret_env={"API_TOKEN": SECRET_SOURCE})
        outputs = [d.apply()]
        assert f"API_TOKEN={secret}" in _server_environment(d), "the server itself gets the value"
        # a changed secret value is a change the plan sees, without showing either value
        monkeypatch.setenv(SECRET_SOURCE, secret + "-rotated")
        plan = d.tfsctl("plan", "-f", str(d.spec_file), "--detailed-exitcode")
        assert plan.returncode == 2, plan.stdout
        outputs.append(plan)
        monkeypatch.setenv(SECRET_SOURCE, secret)
        d.write([hpt_model([1, 2], 2)], secret_env={"API_TOKEN": SECRET_SOURCE})
        outputs.append(d.apply())
        outputs += [d.tfsctl("history", "-f", str(d.spec_file)),
                    d.tfsctl("status", "-f", str(d.spec_file), "--json")]
        # a failing apply (a smoke request that cannot pass) and its rollback
        bad = hpt_model([1, 2], 2)
        bad["smoke"][0]["expect"] = {"predictions": [999.0]}
        d.write([bad], secret_env={"API_TOKEN": SECRET_SOURCE}, env={"CHANGED": "1"})
        failed = d.apply(check=False)
        assert failed.returncode == 1, failed.stderr
        outputs.append(failed)
        outputs.append(d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve", check=True))
        for result in outputs:
            assert secret not in result.stdout + result.stderr, result.args
            tally.add("secret leak checks")
        # history, journal, guardian.log, server.log, model.config, side files, records
        assert not _files_holding(d.root, secret), "a file holds the secret value"
        tally.add("secret leak checks")
    finally:
        d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
