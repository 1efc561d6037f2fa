"""Named points in apply where a test can kill the process, to prove it is safe to.

`TFSCTL_FAILPOINT=<name>` makes the process SIGKILL itself when it reaches
that point: no cleanup, no rollback, as if the machine died. The reliability
tests walk through every point and check that the server still answers, that
no partial version is visible, and that the next apply converges.
`TFSCTL_FAILPOINT=<name>:interrupt` raises KeyboardInterrupt there instead, as
Ctrl-C arriving at that instant does, so a test of apply's own rollback interrupts
it at that exact point however loaded the machine (a signal sent on seeing a
progress line may arrive after apply finished), and whatever SIGINT's inherited
disposition (a background job's is "ignore"). Unset (the normal case), a failpoint
costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "TFSCTL_FAILPOINT"

POINTS = (
    "export-before-rename",  # a version is half built, beside its target
    "after-export",  # versions in place, nothing else changed
    "after-side-files",  # batching/monitoring written, server untouched
    "after-reload",  # the server took the new config, model.config not yet written
    "during-replace",  # half a replace: the old process stopped, the new one not started
    # (local: nothing serves), or blue removed and green not yet renamed (docker, commit)
    "after-runtime",  # a container/process was created or replaced
    "before-labels",  # new versions AVAILABLE, labels not moved yet
    "after-config-write",  # model.config written, smoke tests not run
    "after-switch",  # traffic moved to the new server (blue/green), the old one not drained
)


def failpoint(name: str) -> None:
    assert name in POINTS, name
    point, _, action = os.environ.get(ENV, "").partition(":")
    if point != name:
        return
    if action == "interrupt":
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGKILL)
