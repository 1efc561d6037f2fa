"""Why a server must be replaced, in a reviewer's words: the settings that changed.

A runtime is stamped with the settings it was created from (runtimes/desired.py),
so the planner can name each one that differs (`ports.rest: 8501 -> 8601`,
`flags: +--enable_batching=true`) instead of a generic "settings changed". Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfsctl.runtimes.base import RuntimeState


def _shown(value: Any) -> str:
    return "(unset)" if value is None else str(value)


def _list_change(name: str, before: list[Any], after: list[Any]) -> str:
    added = [f"+{item}" for item in after if item not in before]
    removed = [f"-{item}" for item in before if item not in after]
    return f"{name}: " + ", ".join(added + removed or ["order changed"])


def settings_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """One line per setting that differs, in name order."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            lines.append(_list_change(name, old, new))
        else:
            lines.append(f"{name}: {_shown(old)} -> {_shown(new)}")
    return lines


def _short_id(image_id: str) -> str:
    algorithm, _, digest = image_id.partition(":")
    return f"{algorithm}:{digest[:12]}" if digest else image_id[:19]


def image_rebuilt(runtime: RuntimeState, image: str) -> str | None:
    """`image: REF (rebuilt: old -> new)` when the image the server runs is no longer what
    its reference names on the engine (rebuilt or re-pulled under the same tag)."""
    if runtime.image_id and runtime.wanted_image_id and runtime.image_id != runtime.wanted_image_id:
        return (f"image: {image} (rebuilt: {_short_id(runtime.image_id)} -> "
                f"{_short_id(runtime.wanted_image_id)})")
    return None
