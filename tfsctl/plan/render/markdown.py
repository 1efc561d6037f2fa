"""The plan as a pull-request comment (GitHub-flavoured Markdown).

What a reviewer must see comes first: one summary line, then errors and
downtime. Each server's details fold into `<details>`, with a ```diff block
(`+`/`-`/`!` lines, which GitHub colours) and tables. The layout lives in
`templates/plan.md.j2`; this module prepares plain data for it and the
escaping filters: user-provided strings (model names, paths, messages) can
contain `|`, `*` or `<`, which would otherwise break a table or inject HTML.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache

import jinja2

from tfsctl import __version__
from tfsctl.plan.model import Change, HazardKind, Plan, PolicyLevel, ServerPlan
from tfsctl.plan.render.gateways import gateway_diff
from tfsctl.plan.render.lines import (
    ACTION_CHANGE,
    action_phrase,
    baseline_text,
    counts_sentence,
    drift_text,
    entry_summary,
    hazard_text,
    ordered_hazards,
    policy_text,
    server_lines,
    source_text,
    summary_sentence,
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_DIFF_PREFIX = {"+": "+", "-": "-"}  # everything else (~, -/+) is GitHub's "changed": "!"


def escape_markdown(text: object) -> str:
    """Inline text that renders literally: in a table cell, a list item or a quote."""
    escaped = html.escape(str(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", escaped).replace("\r", " ").replace("\n", " ")


def _fence(body: str) -> str:
    """A code fence longer than any run of backticks in `body`, so the block cannot end early."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


@dataclass(frozen=True)
class Row:
    """One table row; cells are raw strings, the template escapes them."""

    cells: tuple[str, ...]


@dataclass(frozen=True)
class ServerView:
    summary: str
    diff: str
    fence: str
    versions: tuple[Row, ...]
    models: tuple[Row, ...]
    notices: tuple[str, ...]  # hazards and drift


def _diff(server: ServerPlan) -> str:
    return "\n".join(f"{_DIFF_PREFIX.get(line.marker, '!')} {'  ' * max(line.depth - 1, 0)}{line.text}"
                     for line in server_lines(server) if line.marker)


def _version_rows(server: ServerPlan) -> tuple[Row, ...]:
    rows = []
    for v in (*server.exports, *server.prunes):
        action = "+ export" if v.change is Change.CREATE else "- prune"
        rows.append(Row((f"{v.model}/{v.version}", action, source_text(v.source), v.target,
                         v.reason)))
    return tuple(rows)


def _model_rows(server: ServerPlan) -> tuple[Row, ...]:
    entries = {e.name: e for e in server.desired_entries}
    rows = []
    for model in server.models:
        change = f"{model.change.symbol} {model.change.value}"
        if model.fields:
            rows += [Row((model.name, change, f.field, f.before or "", f.after or ""))
                     for f in model.fields]
        else:
            entry = entries.get(model.name) if model.change is Change.CREATE else None
            rows.append(Row((model.name, change, "", "", entry_summary(entry) if entry else "")))
    return tuple(rows)


def _server_view(server: ServerPlan) -> ServerView:
    summary = f'{ACTION_CHANGE[server.action].symbol.strip()} server "{server.name}": '
    summary += action_phrase(server) if server.has_changes else "no changes"
    if server.has_changes:
        summary += f" — {counts_sentence(Plan(servers=(server,)).counts())}"
    problems = len(server.errors)
    if problems:
        summary += f", {problems} error{'s' * (problems != 1)}"
    diff = _diff(server)
    notices = tuple(map(hazard_text, ordered_hazards(server))) + tuple(map(drift_text, server.drift))
    if server.canary is not None:
        notices = (f"Rollout: {server.canary.describe()}", *notices)
    return ServerView(summary=summary.strip(), diff=diff, fence=_fence(diff),
                      versions=_version_rows(server), models=_model_rows(server), notices=notices)


def summary_line(plan: Plan) -> str:
    """`2 to add, 1 to change, 0 to destroy — server default: reload (no downtime);
    gateway api: update`."""
    if not plan.has_changes:
        return summary_sentence(plan)
    changed = [f"server {s.name}: {action_phrase(s)}" for s in plan.servers if s.has_changes]
    changed += [f"gateway {g.name}: {g.action.value}" for g in plan.gateways if g.has_changes]
    return f"{counts_sentence(plan.counts())} — {'; '.join(changed)}"


@cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("tfsctl.plan.render", "templates"),
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
        lstrip_blocks=True)
    environment.filters["md"] = escape_markdown
    environment.filters["html"] = lambda text: html.escape(str(text), quote=False)
    return environment.get_template("plan.md.j2")


def _render(plan: Plan, errors: list[str], servers: list[ServerView], *, cut: str = "",
            omitted: tuple[str, ...] = ()) -> str:
    downtime = [f"server {s.name}: {h.message}" for s in plan.servers for h in s.hazards
                if h.kind is HazardKind.DOWNTIME]
    return _template().render(
        plan=plan, summary=summary_line(plan), baseline=baseline_text(plan.baseline),
        errors=errors, downtime=downtime, servers=servers, notes=plan.notes,
        denials=[policy_text(f) for f in plan.denials],
        warnings=[policy_text(f) for f in plan.policy if f.level is PolicyLevel.WARN],
        cut=cut, omitted=omitted, tfsctl_version=__version__,
        gateways=gateway_diff(plan.gateways), gateways_fence=_fence(gateway_diff(plan.gateways)))


def _cut_note(length: int, shown: int, total: int, full_plan_at: str) -> str:
    where = full_plan_at or "run `tfsctl plan` with the same spec to see it"
    return (f"This plan is {length:,} characters, more than a comment holds, so it is cut: "
            f"{shown} of {total} servers are shown in full. The full plan: {where}.")


def _fitted(plan: Plan, errors: list[str], views: list[ServerView], length: int, limit: int,
            full_plan_at: str) -> str:
    """The most servers that fit in `limit` with the cut note; the rest by their summary."""
    def attempt(count: int, kept_errors: list[str]) -> str:
        omitted = tuple(view.summary for view in views[count:])
        note = _cut_note(length, count, len(views), full_plan_at)
        if len(kept_errors) < len(errors):
            note += f" {len(errors) - len(kept_errors)} more errors are in the full plan."
        return _render(plan, kept_errors, views[:count], cut=note, omitted=omitted)

    low, high = 0, len(views)  # the largest count that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if len(attempt(middle, errors)) <= limit:
            low = middle
        else:
            high = middle - 1
    text = attempt(low, errors)
    kept = list(errors)
    while len(text) > limit and kept:  # thousands of errors: keep the first ones
        kept = kept[:len(kept) // 2]
        text = attempt(low, kept)
    return text if len(text) <= limit else text[:limit]


def render_markdown(plan: Plan, *, limit: int | None = None, full_plan_at: str = "") -> str:
    """The pull-request comment for `plan`, without a final newline (like `render_json`).

    Longer than `limit` characters, it is cut: the summary, errors and policy
    results stay, server details are kept while they fit, and a note says how
    much was left out and where the full plan is (`full_plan_at`).
    """
    errors = [f"server {s.name}: {hazard_text(h)}" for s in plan.servers for h in s.errors]
    views = [_server_view(s) for s in plan.servers if s.has_changes or s.hazards or s.drift]
    text = _render(plan, errors, views)
    if limit is None or len(text) <= limit:
        return text
    return _fitted(plan, errors, views, len(text), limit, full_plan_at)
