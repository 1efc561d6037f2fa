"""From a server's reviewed changes to the steps apply runs, in order (pure).

The order is chosen so that a process killed at any point leaves a server that
still serves, and a state the next plan converges from:

1. leftovers of interrupted exports go, then missing versions are exported (each
   built beside its target and renamed into place). Where a new server starts beside
   the serving one (or where nothing serves yet) and takes requests only once it serves
   every version its config names (apply's switch, or a swarm task's health gate), the
   exports run right after the runtime step began instead: the new server's start-up
   overlaps them, it loads each exported version on its next look at the base path,
   and the runtime then settles (a swarm rolling update converges) before step 4;
2. side files (batching, monitoring: read only at start) are written or removed;
3. the server is given the *first* model.config: the desired one, but with every
   label that must wait for its version left where it is now, and a model whose
   labelled version leaves the served set keeping that version loaded meanwhile.
   A running server gets it by hot reload *before* model.config is written (a kill
   in between leaves an old file the next plan sees as a change); a server that
   starts reads it from model.config, written first;
4. wait until the first step's versions are AVAILABLE; then, if labels wait, the
   desired config is reloaded and apply waits until the versions leaving are gone;
5. model.config gets its final text, and the final state is checked once more (a
   server restarted underneath apply would be serving its old file);
6. smoke requests (against a started server itself, where the runtime starts it beside
   the serving one); then, for a canary, one step per weight (the new server gets that
   share of the requests, judged each interval); then the traffic switches to it; after
   the commit, pruned version dirs are deleted.
"""

from __future__ import annotations

from collections.abc import Mapping

from tfsctl.plan.execution import (
    CanaryWeight,
    DestroyServer,
    ExecStep,
    ExportVersion,
    PruneVersion,
    ReloadConfig,
    RemoveFile,
    RemoveLeftover,
    RemoveSideFile,
    RunServer,
    ServerExecution,
    SettleServer,
    SmokeTests,
    SwitchTraffic,
    Versions,
    WaitServing,
    WriteModelConfig,
    WriteSideFile,
)
from tfsctl.plan.model import Change, FileChange, LabelStep, ServerAction, VersionChange
from tfsctl.rollout.plan import CanaryPlan
from tfsctl.runtimes.base import RuntimeTarget, Step
from tfsctl.runtimes.desired import DesiredRuntime
from tfsctl.serverconfig.model_config import ModelEntry, VersionPolicy
from tfsctl.spec.model_spec import PolicyKind, SmokeTest

#: The runtime step each disruptive action takes.
RUNTIME_STEPS = {ServerAction.CREATE: Step.CREATE, ServerAction.REPLACE: Step.REPLACE,
                 ServerAction.RESTART: Step.RESTART, ServerAction.START: Step.RESTART}


def first_entries(desired: tuple[ModelEntry, ...], steps: tuple[LabelStep, ...],
                  live_entries: tuple[ModelEntry, ...] | None,
                  serve: Mapping[str, tuple[int, ...]]) -> tuple[ModelEntry, ...]:
    """The desired entries, with each pending label left where it is now (or unset).

    A label left on a version that the desired policy no longer serves would point at
    nothing while its new version loads, so that model's first step serves both: the
    versions it should serve and the ones its waiting labels still name. A server that
    starts afresh keeps its labels where they were too: it runs with
    --allow_version_labels_for_unavailable_models, so it accepts them at start-up.
    """
    pending = {(s.model, s.label) for s in steps}
    live_labels = {e.name: e.label_map for e in live_entries or ()}
    entries = []
    for entry in desired:
        labels, kept = [], set()
        for label, version in entry.labels:
            if (entry.name, label) not in pending:
                labels.append((label, version))
                continue
            old = live_labels.get(entry.name, {}).get(label)
            if old is not None and old != version:
                labels.append((label, old))
                kept.add(old)
        policy = entry.policy
        served = set(serve.get(entry.name, ()))
        if kept - served:
            policy = VersionPolicy(PolicyKind.SPECIFIC, latest=0,
                                   specific=tuple(sorted(served | kept)))
        entries.append(ModelEntry(entry.name, entry.base_path, entry.platform, policy,
                                  tuple(labels)))
    return tuple(entries)


def _served(entries: tuple[ModelEntry, ...], final: Mapping[str, tuple[int, ...]]) -> Versions:
    """What the first step serves: the final versions, plus those its policy keeps."""
    widened = {e.name: e.policy.specific for e in entries if e.policy.kind is PolicyKind.SPECIFIC}
    return tuple((model, tuple(sorted(set(versions) | set(widened.get(model, ())))))
                 if versions else (model, versions) for model, versions in final.items())


def _files(files: tuple[FileChange, ...]) -> list[ExecStep]:
    steps: list[ExecStep] = []
    for side in files:
        if side.content is not None:
            steps.append(WriteSideFile(side.name, side.path, side.content))
        else:
            steps.append(RemoveSideFile(side.name, side.path))
    return steps


def server_steps(*, name: str, target: RuntimeTarget, action: ServerAction, reasons: tuple[str, ...],
                 desired_runtime: DesiredRuntime, secrets_digest: str,
                 versions: tuple[VersionChange, ...], files: tuple[FileChange, ...],
                 digests: Mapping[tuple[str, int], str], entries: tuple[ModelEntry, ...],
                 first: tuple[ModelEntry, ...], label_steps: tuple[LabelStep, ...],
                 serve: Mapping[str, tuple[int, ...]], model_config_path: str,
                 smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...],
                 cleanup: tuple[str, ...], canary: CanaryPlan | None = None,
                 metrics_path: str = "", exports_while_starting: bool = False) -> ServerExecution:
    """The steps of a server that is created, changed or left as it is (`canary`: the
    change reaches the traffic by the canary's steps, judged on `metrics_path`;
    `exports_while_starting`: the runtime step starts a server that takes no request
    before apply switches to it, so the exports follow it, see step 1 above)."""
    steps: list[ExecStep] = [RemoveLeftover(path) for path in cleanup]
    exports: list[ExecStep] = [
        ExportVersion(change.model, change.version, change.target, change.source_spec,
                      digests.get((change.model, change.version), ""), change.warmup)
        for change in versions if change.change is Change.CREATE and change.source_spec is not None]
    overlap = exports_while_starting and action in RUNTIME_STEPS
    if not overlap:
        steps += exports
    steps += _files(files)
    prunes = [v for v in versions if v.change is Change.DELETE]
    leaving = tuple(sorted((m, tuple(sorted(v.version for v in prunes if v.model == m)))
                           for m in {p.model for p in prunes}))
    final = WaitServing(tuple(serve.items()), leaving)
    first_wait = WaitServing(_served(first, serve), leaving)
    if action is ServerAction.RELOAD or (action is ServerAction.NONE and label_steps):
        steps += [ReloadConfig(first, "load the new versions (hot, no downtime)"), first_wait]
    elif action in RUNTIME_STEPS:
        steps += [WriteModelConfig(model_config_path, first),
                  RunServer(RUNTIME_STEPS[action], "; ".join(reasons)),
                  *(exports if overlap else ()), SettleServer(), first_wait]
    if label_steps:
        steps += [ReloadConfig(entries, "move the labels: " + ", ".join(
            f"{s.model}.{s.label} -> {s.version}" for s in label_steps)), final]
    steps += [WriteModelConfig(model_config_path, entries), final]
    steps += [SmokeTests(model, tests) for model, tests in smoke]
    if action in RUNTIME_STEPS:
        steps += canary_steps(canary, metrics_path, smoke)
        steps.append(SwitchTraffic())
    return ServerExecution(
        server=name, target=target, desired_runtime=desired_runtime,
        secrets_digest=secrets_digest, steps=tuple(steps),
        after_commit=tuple(PruneVersion(v.model, v.version, v.target) for v in prunes))


def canary_steps(canary: CanaryPlan | None, metrics_path: str,
                 smoke: tuple[tuple[str, tuple[SmokeTest, ...]], ...]) -> list[ExecStep]:
    """One step per weight of a canary (none without one); the smoke requests go along only
    when a quiet interval is to be made up with them."""
    if canary is None:
        return []
    extra = smoke if canary.thresholds.on_inconclusive == "smoke_traffic" else ()
    return [CanaryWeight(number, len(canary.steps), weight, pause, canary.thresholds,
                         metrics_path, extra)
            for number, (weight, pause) in enumerate(canary.steps, start=1)]


def destroy_steps(*, name: str, target: RuntimeTarget, action: ServerAction,
                  files: tuple[FileChange, ...], versions: tuple[VersionChange, ...],
                  model_config_path: str) -> ServerExecution:
    """A destroy: the server, its generated files, and with --purge its version dirs."""
    steps: list[ExecStep] = [DestroyServer()] if action is ServerAction.DESTROY else []
    steps += [RemoveFile(f.path) for f in files]
    steps.append(RemoveFile(model_config_path))
    steps += [PruneVersion(v.model, v.version, v.target) for v in versions
              if v.change is Change.DELETE]
    return ServerExecution(server=name, target=target, desired_runtime=None,
                           secrets_digest="", steps=tuple(steps), destroy=True)
