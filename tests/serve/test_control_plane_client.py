"""apply's own gRPC client (tfsctl's protos, real method paths) against a real `tfsctl serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.serve import block, write_config
from tfsctl.apply.server_client import ReloadRefused, model_status, reload_config
from tfsctl.endpoints import Endpoint
from tfsctl.live.state import VersionState
from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy
from tfsctl.spec.model_spec import PolicyKind

pytestmark = pytest.mark.slow


def test_reload_and_status(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    hpt, two = models / "saved_model_half_plus_two_cpu", models / "saved_model_half_plus_two_2_versions"
    server = serve(f"--model_config_file={write_config(tmp_path / 'model.config', block('hpt', hpt))}")
    endpoint = Endpoint("127.0.0.1", server.grpc, server.rest)

    status = model_status(endpoint, "hpt")
    assert status is not None and [(v.version, v.state) for v in status.versions] == [
        (123, VersionState.AVAILABLE)]
    assert status.versions[0].error_code == "OK"

    both = VersionPolicy(PolicyKind.SPECIFIC, 0, (123, 124))
    reload_config(endpoint, [ModelEntry("hpt", str(hpt)), ModelEntry("two", str(two), policy=both)])
    server.wait_for(lambda: server.states("two") == {"123": "AVAILABLE", "124": "AVAILABLE"})
    two_status = model_status(endpoint, "two")
    assert two_status is not None
    assert [(v.version, v.state) for v in two_status.versions] == [
        (123, VersionState.AVAILABLE), (124, VersionState.AVAILABLE)]
    # a label, as apply sets it: once its version is AVAILABLE
    reload_config(endpoint, [ModelEntry("hpt", str(hpt)),
                             ModelEntry("two", str(two), policy=both, labels=(("stable", 123),))])
    assert server.post("/v1/models/two/labels/stable:predict", {"instances": [1.0]}).status_code == 200

    unknown = model_status(endpoint, "nope")
    assert unknown is not None and unknown.versions == () and "NOT_FOUND" in (unknown.error or "")


def test_refused_reload_and_unreachable_server(serve, models: Path, tmp_path: Path) -> None:  # noqa: ANN001
    hpt = models / "saved_model_half_plus_two_cpu"
    server = serve(f"--model_config_file={write_config(tmp_path / 'model.config', block('hpt', hpt))}")
    endpoint = Endpoint("127.0.0.1", server.grpc, server.rest)
    # a label on a version the policy does not load: TF Serving refuses the whole config
    with pytest.raises(ReloadRefused):
        reload_config(endpoint, [ModelEntry("hpt", str(hpt), labels=(("stable", 999),))])
    assert server.states("hpt") == {"123": "AVAILABLE"}

    nobody = Endpoint("127.0.0.1", free_port(), free_port())
    assert model_status(nobody, "hpt") is None
    with pytest.raises(ReloadRefused, match="failed"):
        reload_config(nobody, [ModelEntry("hpt", str(hpt))], timeout=5)
