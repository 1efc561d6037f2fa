"""What a reviewer reads about a plan, as lines, before any styling.

The text and Markdown renderers both start from `server_lines`, so a terminal
plan and a pull-request comment say the same thing in the same order. A line
carries its `marker` (`+ ~ - -/+`, the meaning; colour only repeats it) and a
`tone` that each renderer maps to its own styling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from tfsctl.plan.model import (
    Baseline,
    BaselineKind,
    Change,
    Drift,
    FieldChange,
    Hazard,
    ModelChange,
    Plan,
    PlanCounts,
    PolicyFinding,
    PolicyLevel,
    ServerAction,
    ServerPlan,
    Severity,
    SourceRef,
    VersionChange,
)
from tfsctl.serverconfig.model_config import ModelEntry


class Tone(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"
    ERROR = "error"
    WARNING = "warning"
    DRIFT = "drift"
    HEADING = "heading"
    PLAIN = "plain"


class Depth:
    """Nesting levels: a server header, its sections, their items, an item's fields."""

    SERVER = 0
    SECTION = 1
    ITEM = 2
    FIELD = 3


@dataclass(frozen=True)
class Line:
    text: str
    depth: int
    tone: Tone = Tone.PLAIN
    marker: str = ""  # Change.symbol for changes; "" for headings, hazards and drift


#: How a server action reads as a change of the server itself.
ACTION_CHANGE = {
    ServerAction.NONE: Change.NOOP,
    ServerAction.RELOAD: Change.UPDATE,
    ServerAction.START: Change.UPDATE,
    ServerAction.RESTART: Change.UPDATE,
    ServerAction.CREATE: Change.CREATE,
    ServerAction.REPLACE: Change.REPLACE,
    ServerAction.DESTROY: Change.DELETE,
}

_ACTION_VERB = {
    ServerAction.RELOAD: "reloaded",
    ServerAction.START: "started",
    ServerAction.RESTART: "restarted",
    ServerAction.CREATE: "created",
    ServerAction.REPLACE: "replaced",
    ServerAction.DESTROY: "destroyed",
}

_CHANGE_TONE = {
    Change.CREATE: Tone.CREATE,
    Change.UPDATE: Tone.UPDATE,
    Change.DELETE: Tone.DELETE,
    Change.REPLACE: Tone.REPLACE,
    Change.NOOP: Tone.PLAIN,
}

_LEGEND = {
    Change.CREATE: "create",
    Change.UPDATE: "update in place",
    Change.DELETE: "remove",
    Change.REPLACE: "replace",
}

_SOURCE_KIND = {"saved_model": "SavedModel", "checkpoint": "checkpoint", "keras": "Keras model"}

NONE_TEXT = "(none)"


def change_line(change: Change, text: str, depth: int = Depth.ITEM) -> Line:
    return Line(text, depth, _CHANGE_TONE[change], change.symbol.strip())


def counts_sentence(counts: PlanCounts) -> str:
    return f"{counts.add} to add, {counts.change} to change, {counts.destroy} to destroy"


def action_phrase(server: ServerPlan) -> str:
    """A few words for summaries: `reload (no downtime)`, `replace (downtime)`."""
    action = server.action
    if action is ServerAction.NONE:
        return "no reload or restart"
    if action is ServerAction.RELOAD:
        return "reload (no downtime)"
    if server.downtime:
        return f"{action.value} (downtime)"
    if server.canary is not None:
        return f"canary {action.value} (no downtime)"
    if server.rolling and action is not ServerAction.DESTROY:
        return f"rolling {action.value} (no downtime)"
    return action.value


def server_header(server: ServerPlan) -> Line:
    """`~ server "default" will be reloaded (why)`, or that nothing happens to it."""
    name = f'server "{server.name}"'
    if server.action is ServerAction.NONE:
        text = f"{name}: no reload or restart" if server.has_changes else f"{name}: no changes"
    else:
        text = f"{name} will be {_ACTION_VERB[server.action]}"
        if server.downtime:
            text += ", with downtime"
    if server.reasons:
        text += f" ({'; '.join(server.reasons)})"
    return change_line(ACTION_CHANGE[server.action], text, Depth.SERVER)


def source_text(source: SourceRef | None) -> str:
    """`checkpoint ./ckpt/model.ckpt-1000`, `SavedModel ./exports/resnet`."""
    return "" if source is None else f"{_SOURCE_KIND.get(source.kind, source.kind)} {source.path}"


def version_text(version: VersionChange) -> str:
    """`half_plus_two/3  export from checkpoint ./ckpt (missing on disk)`."""
    if version.change is Change.CREATE:
        what = f"export from {source_text(version.source)}" if version.source else "export"
    else:
        what = f"prune {version.target}" if version.target else "prune"
    return f"{version.model}/{version.version}  {what} ({version.reason})"


def entry_summary(entry: ModelEntry) -> str:
    """One line for a model.config entry that is added: what the server will be told."""
    parts = [f"base_path {entry.base_path}", f"policy {entry.policy}"]
    if entry.platform != "tensorflow":
        parts.append(f"platform {entry.platform}")
    if entry.labels:
        parts.append("labels " + ", ".join(f"{label}={version}" for label, version in entry.labels))
    return ", ".join(parts)


def field_change(change: FieldChange) -> Change:
    if change.before is None:
        return Change.CREATE
    return Change.DELETE if change.after is None else Change.UPDATE


def field_text(change: FieldChange) -> str:
    before = NONE_TEXT if change.before is None else change.before
    after = NONE_TEXT if change.after is None else change.after
    return f"{change.field}: {before} -> {after}"


def hazard_subject(hazard: Hazard) -> str:
    """`model/version`, `model` or "" — what the hazard is about."""
    if hazard.model is None:
        return ""
    return hazard.model if hazard.version is None else f"{hazard.model}/{hazard.version}"


def hazard_text(hazard: Hazard) -> str:
    """`Error [source-missing] half_plus_two/3: cannot export ...`."""
    subject = hazard_subject(hazard)
    return (f"{hazard.severity.value.capitalize()} [{hazard.kind.value}] "
            f"{subject + ': ' if subject else ''}{hazard.message}")


def ordered_hazards(server: ServerPlan) -> list[Hazard]:
    """Errors first (apply refuses on them), then warnings, each in the planner's order."""
    return sorted(server.hazards, key=lambda h: h.severity is not Severity.ERROR)


def drift_text(drift: Drift) -> str:
    return f"Drift [{drift.kind.value}]: {drift.message}"


def _model_lines(server: ServerPlan, model: ModelChange) -> Iterator[Line]:
    text = f'model "{model.name}"'
    if model.change is Change.CREATE:
        entry = next((e for e in server.desired_entries if e.name == model.name), None)
        if entry is not None:
            text += f"  {entry_summary(entry)}"
    yield change_line(model.change, text)
    for field in model.fields:
        yield change_line(field_change(field), field_text(field), Depth.FIELD)


def server_lines(server: ServerPlan) -> list[Line]:
    """Everything about one server, in review order: header, changes, hazards, drift."""
    lines = [server_header(server)]
    if server.canary is not None:
        lines.append(Line(f"rollout: {server.canary.describe()}", Depth.SECTION, Tone.HEADING))
    if server.versions:
        lines.append(Line("versions:", Depth.SECTION, Tone.HEADING))
        lines += [change_line(v.change, version_text(v))
                  for v in (*server.exports, *server.prunes)]
    if server.models:
        lines.append(Line("model.config:", Depth.SECTION, Tone.HEADING))
        lines += [line for model in server.models for line in _model_lines(server, model)]
    if server.files:
        lines.append(Line("side files:", Depth.SECTION, Tone.HEADING))
        lines += [change_line(f.change, f.name) for f in server.files]
    if server.label_steps:
        lines.append(Line("labels set in a second step, once their version is AVAILABLE:",
                          Depth.SECTION, Tone.HEADING))
        lines += [change_line(Change.UPDATE, f'{s.model}: label "{s.label}" -> version {s.version}')
                  for s in server.label_steps]
    lines += [Line(hazard_text(h), Depth.SECTION, Tone(h.severity.value))
              for h in ordered_hazards(server)]
    lines += [Line(drift_text(d), Depth.SECTION, Tone.DRIFT) for d in server.drift]
    return lines


def legend(plan: Plan) -> str:
    """The symbols this plan uses, Terraform-style, so the plan reads without colour."""
    used = {line.marker for server in plan.servers for line in server_lines(server)}
    parts = [f"{change.symbol} {meaning}" for change, meaning in _LEGEND.items()
             if change.symbol in used]
    return "Symbols: " + ", ".join(parts) if parts else ""


def summary_sentence(plan: Plan) -> str:
    if not plan.has_changes:
        return "No changes. The servers match the spec."
    return f"Plan: {counts_sentence(plan.counts())}."


def age_text(seconds: int) -> str:
    """`45 seconds`, `12 minutes`, `3 hours`, `2 days`: how old a snapshot is, roughly."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' * (count != 1)}"
    return f"{seconds} second{'s' * (seconds != 1)}"


def baseline_text(baseline: Baseline) -> str:
    """What the plan compares the spec with, in one sentence: every format starts with it."""
    if baseline.kind is BaselineKind.SNAPSHOT:
        age = f", {age_text(baseline.age_seconds)} old" if baseline.age_seconds is not None else ""
        return (f"Compared against the live-state snapshot {baseline.source} (taken "
                f"{baseline.taken_at or 'at an unknown time'}{age}); apply observes the live "
                "state itself and refuses a saved plan if it changed since.")
    if baseline.kind is BaselineKind.SPEC:
        return (f"Compared against the spec {baseline.source}, as if it were applied and "
                "converged; no engine or server was contacted.")
    return "Compared against the live state, observed now."


def policy_text(finding: PolicyFinding) -> str:
    """`Policy denied [deny_destroy_in_prod]: ...` / `Policy warning [warn]: ...`."""
    verb = "denied" if finding.level is PolicyLevel.DENY else "warning"
    return f"Policy {verb} [{finding.rule}]: {finding.message}"
