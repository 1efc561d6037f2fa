"""model.config entries: added, removed, and changed field by field. Pure."""

from __future__ import annotations

from tfsctl.plan.model import Change, FieldChange, ModelChange
from tfsctl.serverconfig.model_config import ModelEntry

#: Fields a running TF Serving refuses to change in a config reload, and why: changing one
#: on a served model needs a fresh server (the planner replaces it instead of reloading).
RELOAD_REFUSES = {
    "platform": "TF Serving refuses to change a served model's platform in a reload "
                "(\"Illegal to change a model's platform\")",
}


def reload_refusals(models: tuple[ModelChange, ...]) -> list[str]:
    """Why these model.config changes cannot be a hot reload (empty: they can)."""
    return [f"{change.name}: {field.field} {field.before} -> {field.after}: "
            f"{RELOAD_REFUSES[field.field]}"
            for change in models for field in change.fields if field.field in RELOAD_REFUSES]


def field_changes(before: ModelEntry, after: ModelEntry) -> tuple[FieldChange, ...]:
    """Reviewers read these lines: one per field, labels one per label."""
    changes: list[FieldChange] = []
    for name in ("base_path", "platform"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            changes.append(FieldChange(name, old, new))
    if before.policy != after.policy:
        changes.append(FieldChange("policy", str(before.policy), str(after.policy)))
    old_labels, new_labels = before.label_map, after.label_map
    for label in sorted(old_labels.keys() | new_labels.keys()):
        old_v, new_v = old_labels.get(label), new_labels.get(label)
        if old_v != new_v:
            changes.append(FieldChange(f"labels.{label}", None if old_v is None else str(old_v),
                                       None if new_v is None else str(new_v)))
    return tuple(changes)


def diff_entries(live: tuple[ModelEntry, ...] | None, desired: tuple[ModelEntry, ...]
                 ) -> tuple[ModelChange, ...]:
    """Changes from `live` (None: no readable model.config) to `desired`, in desired order."""
    live_by_name = {e.name: e for e in live or ()}
    desired_names = {e.name for e in desired}
    changes: list[ModelChange] = []
    for entry in desired:
        before = live_by_name.get(entry.name)
        if before is None:
            changes.append(ModelChange(entry.name, Change.CREATE))
            continue
        fields = field_changes(before, entry)
        if fields:
            changes.append(ModelChange(entry.name, Change.UPDATE, fields))
    for entry in live or ():
        if entry.name not in desired_names:
            changes.append(ModelChange(entry.name, Change.DELETE))
    return tuple(changes)
