"""Errors a reviewer can act on: where (file:line:column), what is wrong, what to do.

Every stage of loading (YAML, templating, schema, semantic checks) reports
`SpecIssue`s instead of raising on the first problem, so one run shows all of
them. `SpecError` carries the whole list to the CLI, which prints them and
exits 1 without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in a spec file."""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: a location, what is wrong, and how to fix it."""

    location: Location
    message: str
    hint: str = ""

    def format(self, source_lines: list[str] | None = None) -> str:
        """Compiler-style text: `file:line:col: error: ...`, the line itself, a caret, the fix."""
        out = [f"{self.location}: error: {self.message}"]
        if source_lines and 0 < self.location.line <= len(source_lines):
            text = source_lines[self.location.line - 1].rstrip("\n")
            out.append(f"    {text}")
            out.append("    " + " " * max(self.location.column - 1, 0) + "^")
        if self.hint:
            out.append(f"  fix: {self.hint}")
        return "\n".join(out)


class SpecError(Exception):
    """A spec could not be loaded; `issues` lists every problem found."""

    def __init__(self, issues: list[SpecIssue], source_lines: list[str] | None = None):
        self.issues = sorted(issues, key=lambda i: (str(i.location.file), i.location.line,
                                                    i.location.column))
        self.source_lines = source_lines
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(issue.format(self.source_lines) for issue in self.issues)
