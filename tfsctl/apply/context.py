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

from tfsctl.apply.guardian import spawn_guardian
from tfsctl.apply.server_client import model_status, predict, reloader
from tfsctl.apply.transaction import ApplyContext
from tfsctl.plan.execution import ExportVersion
from tfsctl.runtimes.base import RuntimeTarget
from tfsctl.runtimes.registry import driver


def _export(step: ExportVersion, target: Path, progress: Callable[[str], None]) -> Any:
    from tfsctl.export.exporters import export_version

    return export_version(step.source, target, progress=progress, warmup=step.warmup)


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
