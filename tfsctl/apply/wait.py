"""Waiting until the server serves what the spec asks for.

Apply is done when every version the policy selects is AVAILABLE and every
version or model that should be gone is gone. A version that fails to load
(state END with an error) fails the wait at once instead of running out the
clock, with the server's own error message.

The status is polled often at first and then less and less: a hot reload of a
version already on disk is served within tens of milliseconds, which a fixed
quarter-second poll would round up to a quarter second, while a large model
loading for minutes needs no more than four questions a second. A server that
does not answer yet is asked twenty times a second: it is starting, it
answers once its models are loaded (TF Serving opens its ports last), and a
refused connection costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tfsctl.errors import TfsctlError
from tfsctl.live.state import ServedModel, VersionState

#: Asks the server about one model; None when the server is unreachable.
StatusProbe = Callable[[str], ServedModel | None]

NOT_ANSWERING = "server not answering"
#: The longest pause while the server does not answer (see above).
STARTING_INTERVAL = 0.05


@dataclass(frozen=True)
class Expectation:
    """Per model, the versions that must be AVAILABLE; models mapped to () must be gone.
    `leaving` are versions apply prunes only once serving is verified: the server may still
    serve them meanwhile (a policy such as `all` keeps them until their dir goes)."""

    serve: Mapping[str, frozenset[int]]
    leaving: Mapping[str, frozenset[int]] = field(default_factory=dict)
    #: other versions may be AVAILABLE too (a rollback waits for what served before, and
    #: does not mind a version the restored policy still keeps)
    allow_extra: bool = False

    def describe(self) -> str:
        return ", ".join(f"{m} {sorted(v)}" if v else f"{m} (removed)"
                         for m, v in sorted(self.serve.items()))


class ServingFailed(TfsctlError):
    """The server did not reach the expected state."""


def _pending(expect: Expectation, probe: StatusProbe) -> tuple[list[str], list[str]]:
    """(what is still pending, hard failures)."""
    pending: list[str] = []
    failures: list[str] = []
    for model, versions in sorted(expect.serve.items()):
        status = probe(model)
        if status is None:
            pending.append(f"{model}: {NOT_ANSWERING}")
            continue
        if not versions:
            live = [v.version for v in status.versions if v.state is not VersionState.END]
            if live:
                pending.append(f"{model}: still serving {live}")
            continue
        for version in sorted(versions):
            found = next((v for v in status.versions if v.version == version), None)
            if found is None:
                pending.append(f"{model}/{version}: not loaded yet")
            elif found.state is VersionState.AVAILABLE:
                continue
            elif found.state is VersionState.END and found.error_code not in ("OK", "", "0"):
                why = found.error_message or found.error_code
                failures.append(f"{model}/{version} failed to load: {why}")
            else:
                pending.append(f"{model}/{version}: {found.state.value}")
        extra = [] if expect.allow_extra else [
            v.version for v in status.versions if v.version not in versions
            and v.version not in expect.leaving.get(model, ()) and v.state is VersionState.AVAILABLE]
        if extra:
            pending.append(f"{model}: still serving {extra}")
    return pending, failures


def wait_until_serving(expect: Expectation, probe: StatusProbe, *, timeout: float,
                       progress: Callable[[str], None] = lambda _: None,
                       first_interval: float = 0.01, max_interval: float = 0.25,
                       alive: Callable[[], None] = lambda: None) -> float:
    """Poll until `expect` holds, the pause growing by half each time from `first_interval`
    to `max_interval`; returns the seconds it took. Raises ServingFailed, or what `alive`
    raises: it checks the server apply started is still the one running, after each look
    (so the answers that end the wait are its own, and a server that died is reported as
    such rather than as one that stopped answering)."""
    start = time.monotonic()
    interval = first_interval
    last = ""
    while True:
        pending, failures = _pending(expect, probe)
        alive()
        if failures:
            raise ServingFailed("; ".join(failures),
                                "check the version's files (tfsctl plan shows incomplete dirs) "
                                "and the server log")
        if not pending:
            return time.monotonic() - start
        summary = "; ".join(pending[:3]) + (f" (+{len(pending) - 3} more)" if len(pending) > 3 else "")
        if summary != last:
            progress(f"waiting: {summary}")
            last = summary
        if time.monotonic() - start > timeout:
            raise ServingFailed(f"not serving after {timeout:.0f}s: {summary}",
                                "raise --timeout if the models are large, or check the server log")
        time.sleep(interval)
        starting = any(p.endswith(NOT_ANSWERING) for p in pending)
        longest = min(max_interval, STARTING_INTERVAL) if starting else max_interval
        interval = min(longest, interval * 1.5)
