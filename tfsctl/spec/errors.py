"""Errors a reviewer can act on: where (file:line:column), what is wrong, what to do.

Every stage of loading (YAML, templating, schema, semantic checks) reports
`SpecIssue`s instead of raising on the first problem, so one run shows all of
them. `SpecError` carries the whole list to the CLI, which prints them and
exits 1 without a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: A spec error shows at most this many problems (the count says how many there were), and
#: at most this much of a source line around the column: a hostile one-line file of 100 kB
#: with 20,000 duplicate keys otherwise printed its whole line 20,000 times (gigabytes).
MAX_SHOWN_ISSUES = 100
MAX_SHOWN_LINE = 160


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
            column = max(self.location.column - 1, 0)
            start = max(0, min(column - MAX_SHOWN_LINE // 2, len(text) - MAX_SHOWN_LINE))
            before = "..." if start else ""
            after = "..." if start + MAX_SHOWN_LINE < len(text) else ""
            out.append(f"    {before}{text[start:start + MAX_SHOWN_LINE]}{after}")
            out.append("    " + " " * (len(before) + column - start) + "^")
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
        shown = "\n".join(issue.format(self.source_lines)
                          for issue in self.issues[:MAX_SHOWN_ISSUES])
        hidden = len(self.issues) - MAX_SHOWN_ISSUES
        return shown + (f"\n... and {hidden} more not shown" if hidden > 0 else "")
