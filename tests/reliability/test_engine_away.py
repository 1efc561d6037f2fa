"""The Docker engine going away in the middle of an apply that replaces the container.

For each change the apply asks of the engine in turn (create, stop, rename,
start, remove...), the engine vanishes right before that request (see
engine_proxy.py). The apply must fail with a clear message (exit 1, no
traceback); once the engine is back, the apply's guardian undoes it, so the
server answers for the version it served before, with no partial version dir;
and the next apply converges with no manual repair.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.reliability.engine_proxy import EngineProxy
from tests.reliability.tally import Tally
from tests.support.deployment import Deployment, hpt_model

pytestmark = [pytest.mark.slow, pytest.mark.docker]

#: More engine changes than a replace makes: the walk stops at the first apply that completes.
MAX_CUTS = 15


def _containers_left_over(d: Deployment) -> list[str]:
    """The server's containers beyond one TF Serving container (slot a or b) and its proxy:
    a green that was not removed, or one set aside by a stop-first switch."""
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
                             f"name=tfsctl-{d.name}"], capture_output=True, text=True, check=True)
    names = sorted(listed.stdout.split())
    servers = [n for n in names if n in (f"tfsctl-{d.name}", f"tfsctl-{d.name}-b")]
    expected = [f"tfsctl-{d.name}-proxy", *servers[:1]]
    return [n for n in names if n not in expected]


def test_engine_gone_at_each_change_of_a_replace(tmp_path: Path, tally: Tally) -> None:
    d = Deployment(root=tmp_path / "project", runtime="docker")
    d.root.mkdir()
    before = {"env": {"ROLLOUT": "a"}}
    after = {"env": {"ROLLOUT": "b"}}  # a container setting: the apply replaces the container
    try:
        d.write([hpt_model([1], 1)], **before)
        d.apply()
        for cut_at in range(1, MAX_CUTS + 1):
            proxy = EngineProxy(tmp_path / "engine.sock", cut_at=cut_at).start()
            try:
                d.write([hpt_model([1, 2], 2)], **after)
                result = d.apply(check=False, env={"DOCKER_HOST": proxy.docker_host})
                if not proxy.cut.is_set():
                    assert result.returncode == 0, result.stderr
                    break  # every change went through: all cut points were tried
                assert "Traceback" not in result.stderr + result.stdout
                assert "Docker engine" in result.stderr, result.stderr
                # gone before the new server was verified: apply fails and is undone; gone
                # while removing the old container after: it succeeded, the clean-up waits
                assert result.returncode == 1 or "warning: could not remove the previous" in \
                    result.stderr, (cut_at, result.returncode, result.stderr)
                proxy.restore()  # the engine is back: the guardian finishes the undo / clean-up
                assert d.guardian_done(timeout=60), "the guardian did not undo the apply"
                assert not _containers_left_over(d), "the guardian left a container behind"
                assert d.answers_version_1(timeout=90), \
                    f"not serving after the engine left at change {cut_at}"
                d.assert_no_partial_version(f"engine gone at change {cut_at}")
            finally:
                proxy.stop()
            d.apply()
            assert d.plan_exit_code() == 0, cut_at
            assert d.predict("hpt", [1.0], "/labels/stable") == [2.5]
            d.write([hpt_model([1], 1)], **before)
            d.apply()
            tally.add("Docker engine gone mid-apply (before each engine change)")
        else:
            pytest.fail(f"the apply made more than {MAX_CUTS} engine changes")
        assert cut_at > 3, "a replace makes several engine changes"
    finally:
        if d.spec_file.exists():
            d.tfsctl("destroy", "-f", str(d.spec_file), "--auto-approve")
