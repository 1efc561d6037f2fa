"""YAML as tfsctl parses it, before any value is built: YAML 1.2's core schema on libyaml,
and what a spec file is refused for from its bytes and parse events alone (too large,
not UTF-8, more nodes than the budget), in constant memory. yamlsource.py walks the
composed nodes into data with their locations.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tfsctl.spec.errors import Location, SpecIssue
from tfsctl.spec.readfile import InputFileError, read_limited

#: Upper bounds that keep hostile input from exhausting memory or the stack.
MAX_NODES = 200_000
#: Nodes (keys, values, aliases) a document may hold before it is composed: every
#: key has a value, so a document past twice MAX_NODES would fail the walk's budget anyway.
MAX_PARSED_NODES = 2 * MAX_NODES
MAX_DEPTH = 64
MAX_BYTES = 8 * 1024 * 1024
#: Problems kept per file: a hostile 8 MB file can hold a million duplicate keys.
MAX_ISSUES = 1_000

TAG = "tag:yaml.org,2002:"
STR_TAG = TAG + "str"



class _Resolver(yaml.resolver.BaseResolver):
    """Implicit scalar types of the YAML 1.2 core schema (plus the `<<` merge key)."""


_IMPLICIT: list[tuple[str, str, list[str]]] = [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", ["<"]),
]
for _name, _pattern, _first in _IMPLICIT:
    _Resolver.add_implicit_resolver(TAG + _name, re.compile(_pattern), _first)


class _Composer(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser,
                yaml.composer.Composer, _Resolver):
    """PyYAML's node composer with the resolver above; constructs nothing itself."""

    def __init__(self, stream: str):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _Resolver.__init__(self)


if yaml.__with_libyaml__:
    class _FastComposer(yaml.cyaml.CParser, _Resolver):  # type: ignore[misc,name-defined]
        """libyaml's C parser with the same resolver: about ten times faster on big specs."""

        def __init__(self, stream: str):
            yaml.cyaml.CParser.__init__(self, stream)  # type: ignore[attr-defined]
            _Resolver.__init__(self)

    COMPOSER: type = _FastComposer
else:  # pragma: no cover - PyYAML built without libyaml
    COMPOSER = _Composer


def decode_utf8(file: Path, raw: bytes) -> tuple[str | None, list[SpecIssue]]:
    if len(raw) > MAX_BYTES:
        return None, [SpecIssue(Location(file, 1, 1), f"the file is larger than {MAX_BYTES} bytes",
                                "split it, or check that this is the right file")]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        return None, [SpecIssue(Location(file, line, column),
                                f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                                "save the file as UTF-8")]


def read_source(file: Path) -> tuple[bytes | None, list[SpecIssue]]:
    """The bytes of a spec file, read for at most MAX_BYTES + 1 bytes (never raises)."""
    try:
        return read_limited(file, MAX_BYTES, "spec file"), []
    except InputFileError as exc:
        return None, [SpecIssue(Location(file, 1, 1), exc.message, exc.hint)]


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent,
                yaml.AliasEvent)


def events_in_c(text: str) -> int | None:
    """How many parse events the document has, counted by libyaml without a Python object
    per event (None without libyaml): an upper bound on its nodes. Raises YAMLError."""
    if COMPOSER is _Composer:
        return None
    parser = COMPOSER(text)
    try:
        return int(parser.raw_parse())
    finally:
        parser.dispose()


def too_many_nodes(file: Path, text: str) -> SpecIssue | None:
    """Count the document's nodes from parse events, which are dropped as they come, so a
    huge document is refused in constant memory; syntax errors are left to the composer.
    A text shorter than the budget cannot hold more nodes than characters: not counted;
    nor one with fewer events of any kind than the budget (libyaml counts those in C, ten
    times faster than the node events are told apart here)."""
    if len(text) <= MAX_PARSED_NODES:
        return None
    try:
        events = events_in_c(text)
    except yaml.YAMLError:
        return None
    if events is not None and events <= MAX_PARSED_NODES:
        return None
    parser = COMPOSER(text)
    count = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, _NODE_EVENTS):
                count += 1
                if count > MAX_PARSED_NODES:
                    mark = event.start_mark
                    return SpecIssue(Location(file, mark.line + 1, mark.column + 1),
                                     f"the document has more than {MAX_PARSED_NODES} keys and "
                                     f"values (limits: {MAX_NODES} values)",
                                     "split the spec; a spec this large is likely generated by "
                                     "mistake")
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()
    return None
