"""The block structure of a protobuf text file (model.config), for errors that point somewhere.

Protobuf's parser says *where* it gave up ("9:3: ModelConfig has no field named config")
but not *why*; the usual cause is a `{` left open a few lines above, which its message
never names. This scanner reads only the structure (field names, blocks, their lines),
never the values, so that `tfsctl import` can name the unclosed block, locate each
`config { ... }` entry, and refuse nesting deep enough to exhaust protobuf's recursive
parser before that parser runs. It is independent of which protobuf module parses the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Deeper nesting than any model.config needs (it uses five levels); protobuf's pure-Python
#: text parser recurses per level and failed with RecursionError on ~200 nested Any messages.
MAX_NESTING = 32

_TOKEN = re.compile(r"""
      (?P<newline>\n)
    | (?P<space>[ \t\r\f\v]+)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?)
    | (?P<name>\[[^\]\n]*\]|[A-Za-z_][A-Za-z0-9_.]*)
    | (?P<open>[{<])
    | (?P<close>[}>])
    | (?P<other>[^\sA-Za-z_{}<>"'\#]+)
""", re.VERBOSE)


@dataclass
class Block:
    """One `name { ... }` block: where it opens, where it closes (None if never), its fields."""

    name: str
    path: tuple[str, ...]
    line: int
    column: int
    end: tuple[int, int] | None = None
    fields: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class Structure:
    blocks: list[Block] = field(default_factory=list)
    #: Where a `}` closed nothing, if one did.
    extra_close: tuple[int, int] | None = None
    #: Where nesting first went past MAX_NESTING, if it did.
    too_deep: tuple[int, int] | None = None
    #: Top-level fields (name -> line, column).
    fields: dict[str, tuple[int, int]] = field(default_factory=dict)

    def blocks_at(self, path: tuple[str, ...]) -> list[Block]:
        return [block for block in self.blocks if block.path == path]

    def open_at(self, line: int, column: int) -> list[Block]:
        """Blocks opened before (line, column) and not closed by then, outermost first."""
        here = (line, column)
        return [b for b in self.blocks
                if (b.line, b.column) < here and (b.end is None or b.end >= here)]


def scan(text: str) -> Structure:
    """The blocks and fields of `text`; tolerant of any input (it never raises)."""
    result = Structure()
    stack: list[Block] = []
    line, line_start, last_name = 1, 0, ""
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        column = match.start() - line_start + 1
        if kind == "newline":
            line, line_start = line + 1, match.end()
        elif kind == "name":
            last_name = match.group()
            (stack[-1].fields if stack else result.fields).setdefault(last_name, (line, column))
        elif kind == "open":
            if len(stack) >= MAX_NESTING:
                result.too_deep = result.too_deep or (line, column)
                return result
            parent = stack[-1].path if stack else ()
            block = Block(last_name, (*parent, last_name), line, column)
            result.blocks.append(block)
            stack.append(block)
        elif kind == "close":
            if stack:
                stack.pop().end = (line, column)
            elif result.extra_close is None:
                result.extra_close = (line, column)
    return result


def brace_hint(structure: Structure, line: int, column: int) -> str:
    """What probably causes a parse error at (line, column): an unclosed or extra brace."""
    unclosed = [b for b in structure.blocks if b.end is None]
    if unclosed:
        candidates = structure.open_at(line, column) or unclosed
        block = candidates[-1]
        return (f"the `{block.name or '{'} {{` block opened at line {block.line} is never "
                f"closed: add its `}}` before line {line}")
    if structure.extra_close is not None:
        extra_line, _ = structure.extra_close
        return f"the `}}` at line {extra_line} closes nothing: remove it"
    return ""
