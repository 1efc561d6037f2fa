"""One apply, end to end, in pyinfra's order: lock, plan, show, confirm, apply, record.

Locks are taken before the live state is read, so the plan that is shown and
confirmed is the plan that runs: no other apply can change the servers in
between. A saved plan runs as it was saved: the live state is observed only to
check that it has not moved since. Each server's outcome is written to its
history, success or not.
"""

from __future__ import annotations

import contextlib
import getpass
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from tfsctl.apply.context import context_for
from tfsctl.apply.executor import ApplyFailed, apply_server
from tfsctl.apply.gateways import GatewayFailed, apply_gateways
from tfsctl.apply.lock import ServerLock
from tfsctl.apply.recovery import recover
from tfsctl.apply.steps import ApplyReport
from tfsctl.errors import TfsctlError
from tfsctl.live.gateways import handler_digests
from tfsctl.live.history import HistoryEntry, Outcome, append_history
from tfsctl.live.observe import observe
from tfsctl.plan.execution import ServerExecution
from tfsctl.plan.model import Hazard, Plan
from tfsctl.planning import PlanResult, compute_plan, read_secrets
from tfsctl.runtimes.base import Launch, RuntimeTarget
from tfsctl.spec.load import LoadedSpec


@dataclass
class ApplyOptions:
    servers: list[str]
    timeout: float = 300.0
    lock_timeout: float = 0.0
    message: str = ""

#: Makes the plan apply runs, once the servers' locks are held: a new one (`fresh_plan`), or
#: a saved one checked against the live state (`saved_plan`).
Planner = Callable[[], PlanResult]


@dataclass
class ApplyOutcome:
    plan: Plan
    reports: list[ApplyReport] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)  # a line for each gateway applied
    failure: ApplyFailed | None = None


@contextlib.contextmanager
def _locks(loaded: LoadedSpec, names: list[str], wait: float) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in sorted(names):  # a fixed order: two applies never deadlock
            server = loaded.spec.server(name)
            assert server is not None
            stack.enter_context(ServerLock(server.resolved_state_dir, name, wait))
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled) takes the same rollback path as Ctrl-C."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record(loaded: LoadedSpec, name: str, plan: Plan, outcome: Outcome, message: str,
            model_config_text: str, runtime_hash: str | None,
            start_gap_seconds: float | None = None) -> None:
    from tfsctl.plan.render.json import plan_to_dict

    server = loaded.spec.server(name)
    assert server is not None
    append_history(server.resolved_state_dir, HistoryEntry(
        sequence=0, applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
        outcome=outcome.value, user=getpass.getuser(), spec_file=str(loaded.file),
        spec_digest=loaded.digest, spec=loaded.spec.model_dump(mode="json", by_alias=True),
        model_config_text=model_config_text, runtime_config_hash=runtime_hash,
        plan=plan_to_dict(plan), message=message, start_gap_seconds=start_gap_seconds))


def _launch(execution: ServerExecution) -> Launch | None:
    """The plan's desired runtime with its secret values read now; refused when a value
    differs from the one the plan was made with (the plan's hash would not match)."""
    desired = execution.desired_runtime
    if desired is None or not execution.starts_server:
        return None
    found = read_secrets(source for _, source in desired.secret_env)
    secrets = {k: v for k, v in found.items() if v is not None}
    if desired.secrets_digest(secrets) != execution.secrets_digest:
        raise TfsctlError(f"a secret_env value of server {execution.server!r} is not what it was "
                          "when the plan was made", "export the same values, or make a new plan")
    return desired.launch(secrets)


def _where(hazard: Hazard) -> str:
    if hazard.model is None:
        return ""
    return f"{hazard.model}/{hazard.version}: " if hazard.version is not None else f"{hazard.model}: "


def _recover_interrupted(loaded: LoadedSpec, names: list[str], timeout: float,
                         progress: Callable[[str], None]) -> None:
    """Undo an earlier apply that was killed before its guardian could (see guardian.py),
    so that the plan below starts from the state that served before it."""
    for name in names:
        server = loaded.spec.server(name)
        assert server is not None
        ctx = context_for(RuntimeTarget.of(server), progress, timeout)
        restored = recover(server.resolved_state_dir, ctx.driver, ctx.reload, progress)
        if restored is not None:
            progress(f"{name}: undid the interrupted apply: {'; '.join(restored) or 'nothing to undo'}")


def fresh_plan(loaded: LoadedSpec, servers: list[str], *, destroy: bool = False,
               purge: bool = False) -> Planner:
    """A new plan of the spec, made once the locks are held."""
    return lambda: compute_plan(loaded, servers, destroy=destroy, purge=purge)


def saved_plan(loaded: LoadedSpec, servers: list[str], saved: Plan) -> Planner:
    """The saved plan as it is, once the live state proved unchanged since it was made;
    `loaded` is the spec text saved with it, which says what to observe."""
    def check() -> PlanResult:
        live = observe(loaded, servers=servers, report=True)
        handlers = handler_digests(loaded.spec)
        if live.fingerprint(*loaded.fingerprint_roots(), handlers) != saved.live_fingerprint:
            raise TfsctlError("the live state changed since this plan was made (a server, a "
                              "model directory, a generated file, a gateway or a gateway's "
                              "handler file is not what the plan saw)",
                              "run `tfsctl plan --out PLANFILE` again and review the new plan")
        return PlanResult(loaded, live, saved)

    return check


def _success(plan: Plan, execution: ServerExecution) -> Outcome:
    return Outcome.DESTROYED if execution.destroy or plan.destroy else Outcome.SUCCESS


def run_apply(loaded: LoadedSpec, options: ApplyOptions, planner: Planner,
              confirm: Callable[[PlanResult], bool],
              progress: Callable[[str], None]) -> ApplyOutcome:
    """Lock, plan (`planner`) and, if confirmed, run the plan's steps; the caller shows the
    plan inside `confirm`. `loaded` names the servers to lock and the history to write."""
    with _locks(loaded, options.servers, options.lock_timeout), _sigterm_as_interrupt():
        _recover_interrupted(loaded, options.servers, options.timeout, progress)
        result = planner()
        plan = result.plan
        if plan.errors:
            raise TfsctlError("the plan has errors; nothing was changed:\n" + "\n".join(
                f"  - {_where(error)}{error.message}" for error in plan.errors),
                "fix them in the spec or on disk, then run tfsctl plan again")
        outcome = ApplyOutcome(plan)
        if not plan.has_changes or not confirm(result):
            return outcome
        for execution in plan.execution:
            review = plan.server(execution.server)
            if review is None or not review.has_changes:
                continue
            live = result.live.server(execution.server)
            assert live is not None
            ctx = context_for(execution.target, progress, options.timeout)
            done = _success(plan, execution)
            try:
                launch = _launch(execution)
                runtime_hash = None if done is Outcome.DESTROYED \
                    else launch.config_hash if launch else live.runtime.config_hash

                def verified(report: ApplyReport, server: str = execution.server,
                             done: Outcome = done, runtime_hash: str | None = runtime_hash) -> None:
                    _record(loaded, server, plan, done, options.message,
                            report.model_config_text, runtime_hash, report.start_gap_seconds)

                report = apply_server(execution, live, launch, ctx, review.action.value, verified)
            except ApplyFailed as failure:
                _record(loaded, execution.server, plan, Outcome(failure.outcome), failure.message,
                        live.model_config.text or "", live.runtime.config_hash)
                outcome.failure = failure
                return outcome
            outcome.reports.append(report)
        try:
            outcome.gateways = apply_gateways(plan.gateways, progress, options.timeout)
        except GatewayFailed as failure:
            outcome.failure = failure
        _record_gateways(loaded, result, outcome, options.message)
        return outcome


def _record_gateways(loaded: LoadedSpec, result: PlanResult, outcome: ApplyOutcome,
                     message: str) -> None:
    """The history of the servers whose gateways changed: a success for each whose own plan
    had no changes (it is recorded above otherwise) once every gateway applied; else the
    failure, for the server of the gateway that failed."""
    plan, failure = result.plan, outcome.failure
    if isinstance(failure, GatewayFailed):
        names = [failure.server]
    else:
        names = [n for n in dict.fromkeys(g.server for g in plan.gateways if g.has_changes)
                 if not (review := plan.server(n)) or not review.has_changes]
    for name in names:
        live = result.live.server(name)
        assert live is not None
        _record(loaded, name, plan, Outcome(failure.outcome) if failure else Outcome.SUCCESS,
                failure.message if failure else message, live.model_config.text or "",
                live.runtime.config_hash)
