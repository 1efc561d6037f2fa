"""Whether a server's change goes through a canary, and what that changes in its plan (pure).

A canary needs the spec to ask for one (`rollout: {strategy: canary}`), a runtime that
can split traffic (its profile's `canary` flag; validation refuses the spec otherwise),
a serving instance to compare with, and a change the runtime rolls without stopping
the server (a change of its ports or proxy is stop-first, and all at once). Then:

* a change of the model config alone, which would be a hot reload of the serving
  instance, starts a new instance instead, so the change is judged apart from what
  serves now (TF Serving has no per-version metrics: one instance per side is the
  only honest source);
* model.config pins each model's served versions, so the serving instance never
  picks up a version directory exported for the canary (TF Serving applies a
  `latest` policy to whatever appears on disk).
"""

from __future__ import annotations

from collections.abc import Mapping

from tfsctl.live.state import LiveServer, RuntimeStatus
from tfsctl.plan.model import ServerAction
from tfsctl.rollout.plan import CanaryPlan
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.spec.model import Server

#: What a canary runs for: the changes that start a new instance, and a reload (made one).
_CANARY_ACTIONS = (ServerAction.REPLACE, ServerAction.RESTART, ServerAction.RELOAD)


def canary_action(server: Server, runtime: RuntimeProfile, live: LiveServer,
                  action: ServerAction, reasons: list[str], rolls: bool
                  ) -> tuple[ServerAction, list[str], CanaryPlan | None]:
    """The action, its reasons and the canary, for a server whose change may be a canary
    (`rolls`: the runtime swaps the server without stopping it)."""
    if not (server.rollout.canary and runtime.canary and rolls and action in _CANARY_ACTIONS
            and live.runtime.status is RuntimeStatus.RUNNING):
        return action, reasons, None
    if action is ServerAction.RELOAD:
        action, reasons = ServerAction.REPLACE, [
            f"canary: the new model config runs in a new {runtime.noun} beside the serving "
            "one (a hot reload would change what every request gets at once)"]
    return action, reasons, CanaryPlan.of(server.rollout)


def canary_pins(server: Server, serve: Mapping[str, tuple[int, ...]],
                pins: Mapping[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """`pins`, plus every served model's versions on a canary server."""
    if not server.rollout.canary:
        return dict(pins)
    return {**{model: versions for model, versions in serve.items() if versions}, **pins}
