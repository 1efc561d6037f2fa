"""Which modules a fresh interpreter holds after running some code: how the tests keep
start-up light (no TensorFlow in the control plane, no runtime in the guardian, no Jinja2
for a spec without templates)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable

_REPORT = "\nimport json as _json, sys as _sys\nprint(_json.dumps(sorted(_sys.modules)))"


def modules_after(code: str, *, packages: Iterable[str] = (), prefixes: Iterable[str] = ()
                  ) -> tuple[str, list[str]]:
    """(what `code` printed, the modules it left imported that belong to one of `packages`
    or start with one of `prefixes`), from a new Python process."""
    result = subprocess.run([sys.executable, "-c", code + _REPORT], capture_output=True,
                            text=True, check=True)
    *printed, report = result.stdout.splitlines()
    tops, starts = set(packages), tuple(prefixes)
    return "\n".join(printed), [m for m in json.loads(report)
                                if m.split(".")[0] in tops or m.startswith(starts)]
