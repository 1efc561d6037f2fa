"""The gateways' plan (pure): create, update with its reasons, no change, destroy, one
removed from the spec; how the plan shows them in text, JSON (round trip) and Markdown;
and the live fingerprint a saved plan is checked with."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from tfsctl.live.state import LiveGateway, LiveState
from tfsctl.plan.gateways import GatewayAction, GatewayPlan, plan_gateways
from tfsctl.plan.model import Plan
from tfsctl.plan.render.json import plan_from_dict, plan_to_dict
from tfsctl.plan.render.markdown import render_markdown
from tfsctl.plan.render.text import render_text
from tfsctl.runtimes.base import RuntimeStatus
from tfsctl.runtimes.gateway import GatewayState
from tfsctl.spec.model import Spec

DIGEST, OTHER = "a" * 64, "b" * 64


def spec(tmp_path: Path, **gateway: object) -> Spec:
    (tmp_path / "h.py").write_text("")
    return Spec.model_validate({
        "apiVersion": "tfsctl/v1",
        "servers": [{"name": "ner", "runtime": "local", "ports": {"grpc": 9000, "rest": 9001},
                     "models": [{"name": "per"}, {"name": "loc"}]}],
        "gateways": [{"name": "api", "server": "ner", "handler": "h.py", "port": 8600,
                      "smoke": [{"request": {"text": "x"}, "expect": {}}], **gateway}],
    }, context={"base_dir": tmp_path})


def running(the_spec: Spec, digest: str = DIGEST) -> GatewayState:
    """What a gateway started from this spec's plan reports."""
    launch = plan_gateways(the_spec, [LiveGateway("api", "ner", GatewayState(
        RuntimeStatus.MISSING))], (("api", digest),))[0].launch
    assert launch is not None
    return GatewayState(RuntimeStatus.RUNNING, launch.config_hash,
                        tuple(sorted(launch.settings().items())), digest, "123")


def plan_one(the_spec: Spec, state: GatewayState, digest: str | None = DIGEST,
             destroy: bool = False) -> GatewayPlan:
    return plan_gateways(the_spec, [LiveGateway("api", "ner", state)], (("api", digest),),
                         destroy=destroy)[0]


def test_nothing_running_is_a_create_with_everything_apply_needs(tmp_path: Path) -> None:
    found = plan_one(spec(tmp_path), GatewayState(RuntimeStatus.MISSING))
    assert found.action is GatewayAction.CREATE
    assert found.reasons == ("no process runs this gateway yet",)
    assert found.launch is not None and found.launch.models == ("per", "loc")
    assert found.launch.server_grpc == "127.0.0.1:9000" and found.launch.handler_digest == DIGEST
    assert len(found.smoke) == 1


def test_the_same_gateway_running_is_no_change(tmp_path: Path) -> None:
    the_spec = spec(tmp_path)
    assert plan_one(the_spec, running(the_spec)).action is GatewayAction.NONE


def test_a_changed_handler_file_is_an_update_naming_both_digests(tmp_path: Path) -> None:
    the_spec = spec(tmp_path)
    found = plan_one(the_spec, running(the_spec), digest=OTHER)
    assert found.action is GatewayAction.UPDATE
    assert found.reasons == ("the handler file changed (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb)",)


def test_a_changed_setting_is_an_update_naming_it(tmp_path: Path) -> None:
    before = running(spec(tmp_path))
    found = plan_one(spec(tmp_path, port=8601, deadline_seconds=2), before)
    assert found.action is GatewayAction.UPDATE
    assert found.reasons == ("deadline_seconds: 10.0 -> 2.0", "port: 8600 -> 8601")


def test_a_stopped_gateway_is_started_again(tmp_path: Path) -> None:
    the_spec = spec(tmp_path)
    stopped = dataclasses.replace(running(the_spec), status=RuntimeStatus.STOPPED,
                                  detail="pid 123 is not running")
    found = plan_one(the_spec, stopped)
    assert (found.action, found.reasons) == (GatewayAction.UPDATE,
                                             ("its process is stopped (pid 123 is not running)",))


@pytest.mark.parametrize(("status", "action"), [(RuntimeStatus.RUNNING, GatewayAction.DESTROY),
                                                (RuntimeStatus.MISSING, GatewayAction.NONE)])
def test_destroy(tmp_path: Path, status: RuntimeStatus, action: GatewayAction) -> None:
    found = plan_one(spec(tmp_path), GatewayState(status), destroy=True)
    assert found.action is action and found.launch is None


def test_the_plan_counts_shows_and_saves_gateways(tmp_path: Path) -> None:
    the_spec = spec(tmp_path)
    create = plan_one(the_spec, GatewayState(RuntimeStatus.MISSING))
    update = dataclasses.replace(plan_one(the_spec, running(the_spec), digest=OTHER), name="b")
    plan = Plan(servers=(), gateways=(create, update))
    assert plan.has_changes and (plan.counts().add, plan.counts().change) == (1, 1)
    assert plan_from_dict(plan_to_dict(plan)) == plan
    out = io.StringIO()
    render_text(plan, Console(file=out, width=200, no_color=True))
    assert '+ gateway "api" (process on port 8600, server ner): created' in out.getvalue()
    assert "~ gateway \"b\"" in out.getvalue()
    markdown = render_markdown(plan)
    assert "```diff\n+ gateway \"api\"" in markdown and "! gateway \"b\"" in markdown


@pytest.mark.parametrize("destroy", [False, True])
def test_a_gateway_removed_from_the_spec_is_destroyed(tmp_path: Path, destroy: bool) -> None:
    the_spec = spec(tmp_path)
    left = LiveGateway("old", "ner", dataclasses.replace(running(the_spec), identity="77"))
    found = plan_gateways(the_spec, [LiveGateway("api", "ner", running(the_spec)), left],
                          (("api", DIGEST),), destroy=destroy)
    assert [(p.name, p.action) for p in found] == [
        ("api", GatewayAction.DESTROY if destroy else GatewayAction.NONE),
        ("old", GatewayAction.DESTROY)]
    assert found[1].reasons == ("no longer in the spec: its process is removed",)
    assert found[1].target is not None and found[1].target.server == "ner"
    plan = Plan(servers=(), gateways=found)
    assert plan.counts().destroy == 1 + destroy and plan_from_dict(plan_to_dict(plan)) == plan
    out = io.StringIO()
    render_text(plan, Console(file=out, width=200, no_color=True))
    assert '- gateway "old" (process, server ner): destroyed' in out.getvalue()
    markdown = render_markdown(plan)
    assert '- gateway "old"' in markdown
    summary = markdown.splitlines()[0]  # names what changes
    assert f"{1 + destroy} to destroy — " in summary and "gateway old: destroy" in summary


def test_a_gateway_moved_to_another_server_is_removed_from_the_first(tmp_path: Path) -> None:
    before = spec(tmp_path)
    moved = before.model_copy(update={
        "servers": [*before.servers, before.servers[0].model_copy(update={"name": "ner2"})],
        "gateways": [before.gateways[0].model_copy(update={"server": "ner2"})]})
    found = plan_gateways(moved, [LiveGateway("api", "ner2", GatewayState(RuntimeStatus.MISSING)),
                                  LiveGateway("api", "ner", running(before))],
                          (("api", DIGEST),))
    assert [(p.server, p.action) for p in found] == [("ner2", GatewayAction.CREATE),
                                                     ("ner", GatewayAction.DESTROY)]


def test_the_fingerprint_covers_gateways_and_handler_files(tmp_path: Path) -> None:
    the_spec = spec(tmp_path)
    state = LiveState((), (LiveGateway("api", "ner", running(the_spec)),))
    base = state.fingerprint(str(tmp_path), None, (("api", DIGEST),))
    assert base != state.fingerprint(str(tmp_path), None, (("api", OTHER),))  # handler edited
    restarted = LiveState((), (LiveGateway("api", "ner", dataclasses.replace(
        running(the_spec), identity="124")),))
    assert base != restarted.fingerprint(str(tmp_path), None, (("api", DIGEST),))
    assert LiveState().fingerprint() == LiveState().fingerprint(None, None, ())
