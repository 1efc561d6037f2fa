"""A plan with its host paths written relative to the repository (or the spec's directory).

A plan names host paths everywhere: export sources and targets, base paths,
the runtime's settings, hazard and drift messages. Printed as they are, they
show the layout of the machine that made the plan (`/home/runner/work/...`):
noise in a review, different on every CI runner. `relative_plan` rewrites
every string of the plan, so the same spec gives byte-identical text, JSON
and Markdown wherever it is checked out. Pure: the roots are found by the
caller.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from functools import cache
from pathlib import PurePath
from typing import Any, TypeVar, cast

from tfsctl.plan.model import Plan

T = TypeVar("T")

#: Characters that can continue a path name: a root matches only where a path begins and ends.
_PATH_CHAR = r"[\w.~-]"


class PathRewriter:
    """Rewrites absolute path prefixes to their relative form, longest prefix first.

    `prefixes` maps an absolute directory to what it is shown as: "." for the
    root itself (`/r/examples/x` -> `examples/x`), or a relative path such as
    `examples` for another directory that stands for it (a snapshot's spec
    directory on the machine that took it).
    """

    def __init__(self, prefixes: Mapping[str, str]) -> None:
        usable = {k.rstrip("/"): v for k, v in prefixes.items() if k.rstrip("/")}
        self._shown = usable
        ordered = sorted(usable, key=len, reverse=True)
        self._pattern = re.compile(
            rf"(?<!{_PATH_CHAR})(?<!/)({'|'.join(map(re.escape, ordered))})(?:(/)|(?!{_PATH_CHAR}))"
        ) if ordered else None

    def _replace(self, match: re.Match[str]) -> str:
        shown, slash = self._shown[match.group(1)], match.group(2) or ""
        if shown == ".":
            return "" if slash else "."
        return shown + slash

    def text(self, text: str) -> str:
        if self._pattern is None or not any(prefix in text for prefix in self._shown):
            return text
        return self._pattern.sub(self._replace, text)

    def value(self, value: T) -> T:
        """`value` with every string and path in it rewritten (through dataclasses, pydantic
        models, tuples, lists and dicts; enums stay).

        Whatever holds no rewritten string is returned as it is, not copied: a plan of
        thousands of models has few host paths besides its version targets.
        """
        return cast(T, self._rewrite(value))

    def _rewrite(self, value: Any) -> Any:
        kind: type = type(value)
        if kind is str:
            return self.text(value)
        if kind is tuple:
            items = tuple(self._rewrite(item) for item in value)
            changed = any(new is not old for new, old in zip(items, value, strict=True))
            return items if changed else value
        if kind is list:  # a runtime setting's value (its flags)
            rewritten = [self._rewrite(item) for item in value]
            return rewritten if any(n is not o for n, o in zip(rewritten, value, strict=True)) \
                else value
        if kind is dict:
            return {self._rewrite(k): self._rewrite(v) for k, v in value.items()}
        if isinstance(value, PurePath):
            shown = self.text(str(value))
            return value if shown == str(value) else kind(shown)
        names = _init_fields(kind)
        if names is None:  # a pydantic model (a version's source, a smoke request)
            fields = {name: getattr(value, name) for name in type(value).model_fields}
            update = {k: new for k, old in fields.items() if (new := self._rewrite(old)) is not old}
            return value.model_copy(update=update) if update else value
        if not names:
            return value  # numbers, None, enums
        clone = None
        for name in names:
            old = getattr(value, name)
            new = self._rewrite(old)
            if new is not old:
                # frozen dataclasses set their fields this way in their own __init__
                clone = clone if clone is not None else copy.copy(value)
                object.__setattr__(clone, name, new)
        return value if clone is None else clone


@cache
def _init_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of a dataclass; None for a pydantic model; none for anything else."""
    if hasattr(cls, "model_fields") and hasattr(cls, "model_copy"):
        return None
    if not dataclasses.is_dataclass(cls):
        return ()
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


def relative_plan(plan: Plan, prefixes: Mapping[str, str]) -> Plan:
    """`plan` as a reviewer should read it: host paths relative to the roots in `prefixes`.

    For display only: apply executes a plan file's absolute paths. The runtime hash
    shown is that of the settings as shown, without secret values, so it too is the
    same in every checkout (a plan file keeps the hash the runtime is stamped with).
    """
    shown = PathRewriter(prefixes).value(plan)
    hashes = {e.server: e.desired_runtime.config_hash({}) for e in shown.execution
              if e.desired_runtime is not None}
    return dataclasses.replace(shown, servers=tuple(
        dataclasses.replace(server, runtime_config_hash=hashes[server.name])
        if server.name in hashes else server for server in shown.servers))
