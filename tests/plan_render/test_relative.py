"""Host paths in a plan, as a reviewer reads them: relative to the repository (pure)."""

from __future__ import annotations

import pytest

from tests.plan_render.builders import SCENARIOS, export, plan, server
from tfsctl.plan.model import Change, ServerAction
from tfsctl.plan.relative import PathRewriter, relative_plan

ROOTS = {"/tmp/c1": ".", "/tmp/c1/examples": "examples", "/srv/deploy/examples": "examples"}


@pytest.mark.parametrize(("text", "shown"), [
    ("/tmp/c1/examples/models/x/1", "examples/models/x/1"),
    ("export from SavedModel /tmp/c1/src/m (missing on disk)", "export from SavedModel src/m "
                                                               "(missing on disk)"),
    ("/tmp/c1", "."),
    ('base_path: "/tmp/c1/examples/.models/a"', 'base_path: "examples/.models/a"'),
    ("/srv/deploy/examples/.models/a", "examples/.models/a"),  # a snapshot machine's spec dir
    ("/tmp/c12/x", "/tmp/c12/x"),  # another directory that starts the same
    ("/a/tmp/c1/x", "/a/tmp/c1/x"),  # the root inside another path
    ("/models/half_plus_two", "/models/half_plus_two"),  # a path inside the container
    ("no paths here", "no paths here"),
])
def test_only_whole_path_prefixes_are_rewritten(text: str, shown: str) -> None:
    assert PathRewriter(ROOTS).text(text) == shown


def test_a_plan_is_rewritten_everywhere_and_shares_what_did_not_change() -> None:
    original = plan(server(ServerAction.RELOAD, versions=(
        export("m", 1, path="/tmp/c1/examples/src/m/1"),)), spec_file="/tmp/c1/examples/s.yaml")
    shown = relative_plan(original, ROOTS)
    version = shown.servers[0].versions[0]
    assert version.source is not None and version.source.path == "examples/src/m/1"
    assert version.change is Change.CREATE and shown.spec_file == "examples/s.yaml"
    assert shown.servers[0].desired_entries is original.servers[0].desired_entries
    assert relative_plan(SCENARIOS["reload"], ROOTS) == SCENARIOS["reload"]  # nothing to rewrite
