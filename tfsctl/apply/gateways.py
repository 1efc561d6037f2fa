"""Applying the gateways' plan, once their servers' plans applied (models AVAILABLE).

A new gateway starts beside the current one, and must prove itself alone, on its
private verify port, before it takes over: it reports ready (its models AVAILABLE, its
handler the one planned), then answers each smoke request as expected. Only then is the
current gateway stopped. On any failure the new one is stopped instead, and apply exits
1 saying why; the current gateway served throughout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import requests

from tfsctl.apply.executor import ApplyFailed
from tfsctl.apply.smoke import mismatch
from tfsctl.errors import TfsctlError
from tfsctl.plan.gateways import GatewayAction, GatewayPlan
from tfsctl.runtimes.base import ServerExited
from tfsctl.runtimes.gateway import GatewayDriver, GatewayLaunch
from tfsctl.runtimes.registry import gateway_driver
from tfsctl.spec.gateways import GatewaySmoke


class GatewayCheckFailed(TfsctlError):
    pass


class GatewayFailed(ApplyFailed):
    """A gateway's new one failed and was removed; `server` is its server's name."""

    def __init__(self, server: str, message: str, restored: list[str], hint: str = ""):
        super().__init__(message, restored, hint)
        self.server = server


def _wait_ready(driver: GatewayDriver, launch: GatewayLaunch, timeout: float,
                progress: Callable[[str], None]) -> None:
    """Until the new gateway says it is ready with the planned handler, watching that it
    still runs; GatewayCheckFailed at `timeout`."""
    url = f"{driver.verify_url}/v1/gateways/{launch.name}"
    deadline = time.monotonic() + timeout
    last = "it did not answer"
    progress(f"gateway {launch.name!r}: waiting until it is ready")
    while time.monotonic() < deadline:
        driver.check_started()
        try:
            answer = requests.get(url, timeout=5)
            found: Any = answer.json()
        except (requests.RequestException, ValueError):
            time.sleep(0.2)
            continue
        if answer.status_code == 200 and found.get("handler_sha256") == launch.handler_digest:
            return
        if found.get("handler_sha256") not in (None, launch.handler_digest):
            raise GatewayCheckFailed("the handler changed on disk since the plan was made",
                                     "make a new plan and review it")
        last = f"its models are {found.get('models')}"
        time.sleep(0.2)
    raise GatewayCheckFailed(f"not ready within {timeout:g}s: {last}",
                             "check that its server serves the models it calls")


def _smoke(driver: GatewayDriver, name: str, tests: Iterable[GatewaySmoke]) -> list[str]:
    url = f"{driver.verify_url}/v1/gateways/{name}:predict"
    passed = []
    for index, test in enumerate(tests):
        label = test.name or f"smoke[{index}]"
        try:
            answer = requests.post(url, json=test.request, timeout=60)
            body = answer.json()
        except (requests.RequestException, ValueError) as exc:
            raise GatewayCheckFailed(f"{label}: the request failed: {exc}") from None
        if answer.status_code != 200:
            raise GatewayCheckFailed(f"{label}: answered {answer.status_code}: "
                                     f"{body.get('error', body)}")
        problem = mismatch(test.expect, body, test.tolerance)
        if problem:
            raise GatewayCheckFailed(f"{label}: {problem}")
        passed.append(label)
    return passed


def _replace(plan: GatewayPlan, driver: GatewayDriver, timeout: float,
             progress: Callable[[str], None]) -> str:
    launch = plan.launch
    assert launch is not None
    progress(f"gateway {plan.name!r}: starting a new {plan.noun} ({'; '.join(plan.reasons)})")
    driver.start(launch)
    try:
        _wait_ready(driver, launch, timeout, progress)
        passed = _smoke(driver, plan.name, plan.smoke)
    except (GatewayCheckFailed, ServerExited) as exc:
        driver.discard()
        kept = ("the previous gateway, which kept serving throughout"
                if plan.action is GatewayAction.UPDATE else "nothing: no gateway was left running")
        raise GatewayFailed(plan.server, f"gateway {plan.name!r}: {exc.message}", [kept],
                            exc.hint) from None
    driver.promote()
    return f"gateway {plan.name!r}: {plan.action.value} done, serving on port {launch.port}" + (
        f" (smoke: {', '.join(passed)})" if passed else "")


def apply_gateways(plans: Iterable[GatewayPlan], progress: Callable[[str], None],
                   timeout: float) -> list[str]:
    """Apply each gateway's plan, removals first, then the others in order; a line for each
    done, GatewayFailed at the first that fails (the ones before it stay applied)."""
    done = []
    # removals first: a gateway created in the same plan may take a removed one's port
    for plan in sorted(plans, key=lambda p: p.action is not GatewayAction.DESTROY):
        if not plan.has_changes:
            continue
        assert plan.target is not None
        driver = gateway_driver(plan.target, plan.name)
        if plan.action is GatewayAction.DESTROY:
            driver.destroy()
            done.append(f"gateway {plan.name!r}: destroyed")
        else:
            done.append(_replace(plan, driver, timeout, progress))
    return done
