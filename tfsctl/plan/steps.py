"""What apply does in order, decided at plan time (pure): the model.config of the first
step, and which versions must be AVAILABLE at the end."""

from __future__ import annotations

from tfsctl.live.state import LiveServer
from tfsctl.plan.model import Change, LabelStep, ModelChange, VersionChange
from tfsctl.serverconfig.model_config import ModelEntry
from tfsctl.spec.model import Server


def entries_before_labels(desired: tuple[ModelEntry, ...], steps: tuple[LabelStep, ...],
                          live_entries: tuple[ModelEntry, ...] | None) -> tuple[ModelEntry, ...]:
    """The desired entries, with each pending label left where it is now (or unset).

    A server that starts afresh (replace, restart) keeps its labels where they were too:
    it runs with --allow_version_labels_for_unavailable_models, so it accepts them at
    start-up, and requests to `stable` keep reaching the old version instead of failing
    with "Unrecognized servable version label" until the second step.
    """
    pending = {(s.model, s.label) for s in steps}
    live_labels = {e.name: e.label_map for e in live_entries or ()}
    entries = []
    for entry in desired:
        labels = []
        for label, version in entry.labels:
            if (entry.name, label) in pending:
                old = live_labels.get(entry.name, {}).get(label)
                if old is not None and old != version:
                    labels.append((label, old))
            else:
                labels.append((label, version))
        entries.append(ModelEntry(entry.name, entry.base_path, entry.platform, entry.policy,
                                  tuple(labels)))
    return tuple(entries)


def served_after(server: Server, live: LiveServer, versions: tuple[VersionChange, ...],
                 models: tuple[ModelChange, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Model -> the versions that must be AVAILABLE once the plan is applied."""
    serve: dict[str, tuple[int, ...]] = {}
    for model in server.models:
        model_dir = live.model_dir(model.name)
        on_disk = {v.version for v in model_dir.versions if v.complete} if model_dir else set()
        on_disk |= {v.version for v in versions if v.model == model.name and v.change is Change.CREATE}
        on_disk -= {v.version for v in versions if v.model == model.name and v.change is Change.DELETE}
        serve[model.name] = tuple(sorted(model.policy.select(on_disk)))
    for change in models:
        if change.change is Change.DELETE:
            serve[change.name] = ()
    return tuple(serve.items())
