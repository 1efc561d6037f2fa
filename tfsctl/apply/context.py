"""Wire the executor's effects to the real world for one server.

The runtime comes from the registry (by the plan's target), the exporter is
imported only when a version is exported, the status apply waits on goes over
gRPC (GetModelStatus, like the reload) and predicts over REST; the executor
sees just an `ApplyContext`. What undoing an apply needs is the
`RuntimeTarget`: plain data, so that the guardian process (guardian.py) can
rebuild the same effects without the spec or the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from tfsctl.apply.executor import ApplyContext
from tfsctl.apply.guardian import spawn_guardian
from tfsctl.apply.server_client import model_status, predict, reloader
from tfsctl.plan.model import VersionChange
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.registry import driver


def _export(change: VersionChange, target: Path, progress: Callable[[str], None]) -> Any:
    from tfsctl.export.exporters import export_version

    assert change.source_spec is not None, "the planner exports only versions with a source"
    return export_version(change.source_spec, target, progress=progress, warmup=change.warmup)


def context_for(target: RuntimeTarget, progress: Callable[[str], None], timeout: float) -> ApplyContext:
    runtime = driver(target)
    runtime.timeout = timeout
    return ApplyContext(
        driver=runtime,
        probe=lambda model: model_status(runtime.verify_endpoint(), model),
        reload=reloader(runtime, timeout),
        export=_export,
        predict=lambda *args, **kwargs: predict(runtime.verify_endpoint(), *args, **kwargs),
        progress=progress,
        timeout=timeout,
        guard=partial(spawn_guardian, target, timeout),
    )
