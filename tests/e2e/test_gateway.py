"""The NER example end to end on the local runtime: a sentence in, entities out; every
error class through the real gateway and server; a handler change; a handler that
fails to import while the previous gateway keeps serving; a saved plan refused once a
handler changed; a gateway removed from the spec, planned (live, --against, --live)
and removed; and a handler change under concurrent load that loses no request."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.load import GatewayLoad
from tests.support.ner import ENTITIES, SENTENCE, NerDeployment


@pytest.fixture
def ner(tmp_path: Path) -> Iterator[NerDeployment]:
    deployment = NerDeployment(tmp_path, "local")
    deployment.prepare()
    try:
        yield deployment
    finally:
        deployment.tfsctl("destroy", "--auto-approve")


def check_error_classes(ner: NerDeployment) -> None:
    """Each error answer is JSON with its code, and the gateway serves on after each."""
    cases = [
        (ner.post("ner", b'{"text": '), 400, "malformed_json"),
        (ner.post("ner", {"text": 5}), 400, "bad_request"),
        (ner.post("ner", {"words": "x"}), 400, "bad_request"),
        (ner.post("ner", {"text": "x" * 70000}), 413, "too_large"),
        (ner.post("probe", {"fail": "boom"}), 500, "handler"),
        (ner.post("probe", {"model": "no_such_model"}), 502, "model"),
    ]
    for answer, status, kind in cases:
        assert (answer.status_code, answer.json()["error"]["kind"]) == (status, kind), answer.text
    assert "RuntimeError: the handler has a bug" in cases[4][0].json()["error"]["message"]
    assert cases[5][0].json()["error"]["model"] == "no_such_model"
    assert ner.entities() == ENTITIES


def check_handler_change_and_broken_import(ner: NerDeployment) -> None:
    original = ner.handler.read_text(encoding="utf-8")
    ner.handler.write_text(original.replace('"type": kind}', '"type": kind, "by": "v2"}'),
                           encoding="utf-8")
    plan = ner.tfsctl("plan")
    assert '~ gateway "ner-api"' in plan.stdout and "the handler file changed" in plan.stdout
    assert ner.apply().returncode == 0
    assert ner.entities()[0]["by"] == "v2"
    assert ner.last_outcome() == "success +0 ~1 -0"  # the history has gateway-only applies

    lines = ner.handler.read_text(encoding="utf-8").splitlines()
    lines.insert(20, "import a_module_nobody_installed")
    ner.handler.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = ner.apply()
    assert failed.returncode == 1, failed.stderr
    assert f"{ner.handler}:21: importing module 'ner' failed: ModuleNotFoundError" in failed.stderr
    assert "the previous gateway" in failed.stderr
    assert ner.entities()[0]["by"] == "v2"  # the previous gateway served throughout
    assert ner.last_outcome().startswith("rolled-back +0 ~1 -0")


def _more_answers(load: GatewayLoad, count: int) -> None:
    """Until the load got `count` more correct answers (a generous deadline)."""
    wanted, deadline = len(load.answered) + count, time.monotonic() + 120
    while len(load.answered) < wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(load.answered) >= wanted, load.report()


def check_handler_change_under_load(ner: NerDeployment) -> None:
    """Keep-alive and new-connection clients at the gateway through a handler change (each
    runtime's swap), every failure counted by kind: no request may fail."""
    assert ner.apply().returncode == 0
    url = f"http://127.0.0.1:{ner.ports['ner']}/v1/gateways/ner-api:predict"

    def correct(body: Any) -> bool:  # the old handler's answer or the new one's
        return [{k: v for k, v in e.items() if k != "by"} for e in body["entities"]] == ENTITIES

    original = ner.handler.read_text(encoding="utf-8")
    with GatewayLoad(url, {"text": SENTENCE}, correct) as load:
        _more_answers(load, 30)
        ner.handler.write_text(original.replace('"type": kind}', '"type": kind, "by": "v2"}'),
                               encoding="utf-8")
        applied = ner.apply()
        assert applied.returncode == 0, applied.stderr
        _more_answers(load, 30)
    report = load.report()
    assert report["failed"] == 0, report  # failures by kind, with an example of each
    assert report["sent"] > 60
    assert ner.entities()[0]["by"] == "v2"


def check_status_and_destroy(ner: NerDeployment) -> None:
    status = ner.tfsctl("status")
    assert "gateway 'ner-api'" in status.stdout and "running" in status.stdout, status.stdout
    assert ner.tfsctl("destroy", "--auto-approve").returncode == 0
    with pytest.raises(requests.ConnectionError):
        ner.post("ner", {"text": "张三"})


def test_ner_example_on_local(ner: NerDeployment) -> None:
    first = ner.apply()
    assert first.returncode == 0, first.stderr
    assert "gateway 'ner-api': create done" in first.stdout
    assert ner.entities() == ENTITIES
    assert ner.entities("李四从上海去人民银行") == [
        {"word": "李四", "start": 0, "end": 2, "type": "PER"},
        {"word": "上海", "start": 3, "end": 5, "type": "LOC"},
        {"word": "人民银行", "start": 6, "end": 10, "type": "ORG"}]
    check_error_classes(ner)
    check_handler_change_and_broken_import(ner)
    check_status_and_destroy(ner)


def test_a_saved_plan_goes_stale_with_its_handler_and_a_dropped_gateway_goes(
        ner: NerDeployment) -> None:
    assert ner.apply().returncode == 0
    planfile = ner.root / "plan.json"
    assert ner.tfsctl("plan", "--out", str(planfile)).returncode == 0
    original = ner.handler.read_text(encoding="utf-8")
    ner.handler.write_text(original + "\n# edited after the plan\n", encoding="utf-8")
    stale = ner.tfsctl("apply", str(planfile), "--auto-approve")
    assert stale.returncode == 1 and "handler file is not what the plan saw" in stale.stderr
    ner.handler.write_text(original, encoding="utf-8")

    shutil.copy(ner.spec_file, ner.root / "base.yaml")
    assert ner.tfsctl("status", "--snapshot", str(ner.root / "live.json")).returncode == 0
    ner.drop_gateway("probe")
    removal = f'- gateway "probe" (process, server {ner.server}): destroyed'
    for baseline in ((), ("--against", str(ner.root / "base.yaml")),
                     ("--live", str(ner.root / "live.json"))):
        shown = ner.tfsctl("plan", *baseline)
        assert removal in shown.stdout and "no longer in the spec" in shown.stdout, shown.stdout
    planned = json.loads(ner.tfsctl("plan", "--json").stdout)["gateways"]
    assert [(g["name"], g["action"]) for g in planned] == [("ner-api", "none"),
                                                           ("probe", "destroy")]
    assert "no longer in the spec: apply removes it" in ner.tfsctl("status").stdout
    assert ner.apply().returncode == 0
    with pytest.raises(requests.ConnectionError):
        ner.post("probe", {"fail": "no"})
    assert ner.entities() == ENTITIES
    assert "probe" not in ner.tfsctl("status").stdout
    assert ner.last_outcome() == "success +0 ~0 -1"
    assert "No changes" in ner.tfsctl("plan").stdout


def test_a_handler_change_under_load_loses_no_request(ner: NerDeployment) -> None:
    check_handler_change_under_load(ner)
