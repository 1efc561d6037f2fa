"""The gateways' part of a plan: as lines (text, Markdown) and as JSON (and back).

A gateway reads as one line with its change symbol, then its reasons:

    + gateway "ner-api" (process on port 8600, server ner): created
          no process runs this gateway yet
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from tfsctl.plan.gateways import GatewayAction, GatewayPlan
from tfsctl.plan.render.lines import Depth, Line, Tone
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.gateway import GatewayLaunch
from tfsctl.spec.gateways import GatewaySmoke

_TONE = {GatewayAction.CREATE: Tone.CREATE, GatewayAction.UPDATE: Tone.UPDATE,
         GatewayAction.DESTROY: Tone.DELETE, GatewayAction.NONE: Tone.PLAIN}
_VERB = {GatewayAction.CREATE: "created", GatewayAction.UPDATE: "replaced by a new one, "
         "checked before it takes over", GatewayAction.DESTROY: "destroyed",
         GatewayAction.NONE: "no changes"}


def gateway_lines(plans: Iterable[GatewayPlan]) -> list[Line]:
    lines = []
    for plan in plans:
        where = f" on port {plan.launch.port}" if plan.launch else ""
        lines.append(Line(f'gateway "{plan.name}" ({plan.noun}{where}, server {plan.server}): '
                          f"{_VERB[plan.action]}", Depth.SERVER, _TONE[plan.action],
                          plan.action.symbol.strip()))
        lines += [Line(reason, Depth.ITEM) for reason in plan.reasons]
        if plan.smoke and plan.has_changes:
            lines.append(Line(f"{len(plan.smoke)} smoke request{'s' * (len(plan.smoke) != 1)} "
                              "through it before it serves", Depth.ITEM))
    return lines


def gateway_diff(plans: Iterable[GatewayPlan]) -> str:
    """The changed gateways as a ```diff block's body, for the pull-request comment."""
    changed = [p for p in plans if p.has_changes]
    return "\n".join(f"{'!' if line.marker == '~' else line.marker or ' '} "
                     f"{'  ' * (line.depth > 0)}{line.text}" for line in gateway_lines(changed))


def gateway_to_dict(plan: GatewayPlan) -> dict[str, Any]:
    return {"name": plan.name, "server": plan.server, "action": plan.action.value,
            "reasons": list(plan.reasons), "noun": plan.noun, "has_changes": plan.has_changes,
            "target": None if plan.target is None else plan.target.to_json(),
            "launch": None if plan.launch is None else asdict(plan.launch),
            "smoke": [s.model_dump(mode="json") for s in plan.smoke]}


def _launch(data: Mapping[str, Any]) -> GatewayLaunch:
    tuples = {"models": tuple(data["models"]), "requirements": tuple(data["requirements"]),
              "env": tuple((str(k), str(v)) for k, v in data["env"])}
    return GatewayLaunch(**{**data, **tuples})


def gateway_from_dict(data: Mapping[str, Any]) -> GatewayPlan:
    return GatewayPlan(
        name=data["name"], server=data["server"], action=GatewayAction(data["action"]),
        reasons=tuple(data["reasons"]), noun=data["noun"],
        target=None if data["target"] is None else RuntimeTarget(**data["target"]),
        launch=None if data["launch"] is None else _launch(data["launch"]),
        smoke=tuple(GatewaySmoke.model_validate(s) for s in data["smoke"]))
