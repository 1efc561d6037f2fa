"""The anchor of a spec: the directory its plan's paths are written relative to.

A plan is made in one checkout (a pull request's CI job) and applied in another
(the merge job's), so a saved plan names no host path of the machine that made
it: every path under the anchor is written as `$ANCHOR/...` and resolved, when
the plan is applied, against the checkout apply runs in. The anchor is the
repository holding the spec (the nearest directory above it with `.git`), or the
spec's own directory outside a repository.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: what a path under the anchor starts with in a plan file
TOKEN = "$ANCHOR"


def repository_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` that holds `.git`, resolved."""
    real = Path(os.path.realpath(start))
    return next((d for d in (real, *real.parents) if (d / ".git").exists()), None)


def anchor_of(spec_file: Path) -> Path:
    """The repository holding `spec_file`, else the spec's own directory (resolved)."""
    spec_dir = Path(os.path.realpath(Path(os.path.abspath(spec_file)).parent))
    return repository_root(spec_dir) or spec_dir


def _rewrite(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, (list, tuple)):
        return [_rewrite(v, change) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, change) for k, v in value.items()}
    return value


def to_anchor(data: Any, anchor: Path) -> Any:
    """`data` (JSON) with every path under `anchor` written as `$ANCHOR/...`."""
    pattern = re.compile(re.escape(str(anchor).rstrip("/")) + r"(?=/|$)")
    return _rewrite(data, lambda text: pattern.sub(lambda _: TOKEN, text))


def from_anchor(data: Any, anchor: Path) -> Any:
    """`data` (JSON) with `$ANCHOR` resolved against `anchor`, the checkout applied in."""
    root = str(anchor).rstrip("/")
    return _rewrite(data, lambda text: text.replace(TOKEN, root) if TOKEN in text else text)
