"""Which labels wait for their version: set in a second reload, once it is AVAILABLE. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from tfsctl.live.state import LiveServer, VersionState
from tfsctl.plan.model import Change, LabelStep, ServerAction, VersionChange
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model import Server


def label_steps(server: Server, starts_gated: bool, live: LiveServer, action: ServerAction,
                 versions: Iterable[VersionChange], live_entries: tuple[ModelEntry, ...] | None
                 ) -> tuple[LabelStep, ...]:
    """Labels that a running TF Serving would refuse now: their version is not AVAILABLE yet.

    Apply first loads the version (config without the label), waits until it
    is AVAILABLE, then sets the label. Servers run with
    --allow_version_labels_for_unavailable_models (so that they can restart from
    their model.config), which still refuses label *moves* and would let a new
    label answer errors until its version loads: the two steps stay, except in a
    server that starts gated (`starts_gated`: it takes no request before it serves
    every version), which starts with every label set.
    """
    fresh_server = action.starts_server
    if fresh_server and starts_gated:
        return ()
    # A starting server checks labels once it has loaded only each model's newest version
    # (TF Serving's start-up), so labels on other versions need the second step too.
    exporting = {(v.model, v.version) for v in versions if v.change is Change.CREATE}
    live_labels = {e.name: e.label_map for e in live_entries or ()}
    steps = []
    for model in server.models:
        for label, version in sorted(model.labels.items()):
            if live_labels.get(model.name, {}).get(label) == version and not fresh_server:
                continue
            served = live.report.model(model.name) if live.report.reachable else None
            available = served is not None and served.state_of(version) is VersionState.AVAILABLE
            if fresh_server or (model.name, version) in exporting or not available:
                steps.append(LabelStep(model.name, label, version))
    return tuple(steps)
