"""Safe YAML loading that remembers where every value came from.

Why not `yaml.safe_load`:

* It silently keeps the last of two duplicate keys; here that is an error.
* It follows YAML 1.1, where `00000123` is the *octal* number 83 and `no` is
  `False`. Version directories are named `00000123`, so this loader resolves
  scalars by YAML 1.2's core schema: `00000123` is 123, `no` is the string "no".
* Errors must point at a line and column, so the loader records a `Location`
  for every key and value, addressed by its path (`("servers", 0, "name")`).
* Anchors and aliases are expanded by the walk below; a document whose expansion
  explodes (the "billion laughs") is stopped at a node budget instead of
  eating memory.
* A document with too many nodes is refused from libyaml's parse events, before
  any node is built: composing the nodes of an 8 MB flow list took about 1 GB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tfsctl.spec.errors import Location, SpecIssue
from tfsctl.spec.yamlparse import (
    COMPOSER,
    MAX_DEPTH,
    MAX_ISSUES,
    MAX_NODES,
    STR_TAG,
    TAG,
    decode_utf8,
    read_source,
    too_many_nodes,
)

PathKey = tuple[str | int, ...]
#: A 0-based line and column, as libyaml marks a node: stored per key and value, and made a
#: `Location` only when an issue asks (a Location per node was a fifth of a big spec's load).
Mark = tuple[int, int]

@dataclass
class YamlDocument:
    """Plain Python data from one YAML file plus where each part of it stands."""

    file: Path
    data: Any
    source_lines: list[str]
    value_locations: dict[PathKey, Mark] = field(default_factory=dict)
    key_locations: dict[PathKey, Mark] = field(default_factory=dict)

    def location(self, mark: Mark) -> Location:
        return Location(self.file, mark[0] + 1, mark[1] + 1)

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """The location of `path`, or of its nearest ancestor that has one."""
        table = self.key_locations if key else self.value_locations
        probe = tuple(path)
        while probe:
            if probe in table:
                return self.location(table[probe])
            if not key and probe in self.key_locations:
                return self.location(self.key_locations[probe])
            probe = probe[:-1]
        return self.location(self.value_locations.get((), (0, 0)))


class _BoundedIssues(list[SpecIssue]):
    """The first MAX_ISSUES problems, and how many more there were (a million duplicate
    keys took 1.4 GB and 8 s to collect, for a report that shows a hundred)."""

    dropped = 0

    def append(self, issue: SpecIssue) -> None:
        if len(self) < MAX_ISSUES:
            super().append(issue)
        else:
            self.dropped += 1


def _mark(node: Node) -> Mark:
    mark = node.start_mark
    return mark.line, mark.column


class _Walker:
    """Turns composed nodes into plain data, recording locations and problems."""

    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.issues = _BoundedIssues()
        self.count = 0
        self.too_big = False

    def loc(self, node: Node) -> Location:
        return self.doc.location(_mark(node))

    def walk(self, node: Node, path: PathKey, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES or depth > MAX_DEPTH:
            if not self.too_big:
                self.too_big = True
                what = "nested too deeply" if depth > MAX_DEPTH else "too large once aliases expand"
                self.issues.append(SpecIssue(
                    self.loc(node), f"the document is {what} (limits: {MAX_DEPTH} levels, "
                    f"{MAX_NODES} values)",
                    "simplify the file; anchors and aliases must not multiply into huge trees"))
            return None
        self.doc.value_locations.setdefault(path, _mark(node))
        if isinstance(node, MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            if node.tag != TAG + "seq":
                self._bad_tag(node)
            return [self.walk(child, path + (i,), depth + 1) for i, child in enumerate(node.value)]
        return self._scalar(node)

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[Any, Any]:
        if node.tag != TAG + "map":
            self._bad_tag(node)
        result: dict[Any, Any] = {}
        explicit: set[Any] = set()
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == TAG + "merge":
                merged.update(self._merge_sources(value_node, path, depth))
                continue
            key = self._scalar(key_node) if isinstance(key_node, ScalarNode) else None
            if key is None:
                self.issues.append(SpecIssue(self.loc(key_node), "a key must be a plain value",
                                             "write the key as a name or a number"))
                continue
            child = path + (key,)
            if key in explicit:
                first = self.doc.key_locations[child][0] + 1
                self.issues.append(SpecIssue(
                    self.loc(key_node), f"duplicate key {key!r} (first defined at line {first})",
                    "remove one of the two; YAML would silently keep only the last"))
                continue
            explicit.add(key)
            self.doc.key_locations[child] = _mark(key_node)
            result[key] = self.walk(value_node, child, depth + 1)  # which records its mark
        for key, value in merged.items():
            result.setdefault(key, value)
        return result

    def _merge_sources(self, node: Node, path: PathKey, depth: int) -> dict[Any, Any]:
        """`<<: *base` or `<<: [*a, *b]`: earlier sources win, explicit keys win over all."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            value = self.walk(source, path, depth + 1)
            if not isinstance(value, dict):
                self.issues.append(SpecIssue(self.loc(source), "`<<` merges only mappings",
                                             "point `<<` at an anchored mapping (`<<: *defaults`)"))
                continue
            for key, item in value.items():
                merged.setdefault(key, item)
        return merged

    def _scalar(self, node: ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag == STR_TAG:  # most keys and values: before any other test
            return text
        kind = tag[len(TAG):] if tag.startswith(TAG) else None
        if kind == "str" or (kind is None and tag == "!"):
            return text
        if kind == "int":
            try:
                return int(text, 0) if re.match(r"^[-+]?0[ox]", text) else int(text, 10)
            except ValueError:
                return self._bad_scalar(node, "integer")
        if kind == "float":
            try:
                return float(text.replace(".inf", "inf").replace(".Inf", "inf")
                             .replace(".INF", "inf").replace(".nan", "nan")
                             .replace(".NaN", "nan").replace(".NAN", "nan"))
            except ValueError:
                return self._bad_scalar(node, "number")
        if kind == "bool":
            if text.lower() in ("true", "false"):
                return text.lower() == "true"
            return self._bad_scalar(node, "boolean")
        if kind == "null":
            return None
        self._bad_tag(node)
        return text

    def _bad_scalar(self, node: ScalarNode, kind: str) -> str:
        self.issues.append(SpecIssue(self.loc(node), f"{node.value!r} is not a valid {kind}",
                                     f"write a plain {kind}, or quote it to make it a string"))
        return node.value

    def _bad_tag(self, node: Node) -> None:
        self.issues.append(SpecIssue(self.loc(node), f"the YAML tag {node.tag!r} is not allowed",
                                     "remove the tag: specs hold plain mappings, lists and scalars"))


def load_yaml(file: Path, raw: bytes | None = None) -> tuple[YamlDocument, list[SpecIssue]]:
    """Parse one YAML document; returns the data and every problem found (never raises)."""
    if raw is None:
        raw, issues = read_source(file)
        if raw is None:
            return YamlDocument(file, None, []), issues
    text, issues = decode_utf8(file, raw)
    doc = YamlDocument(file, None, text.splitlines() if text else [])
    if text is None:
        return doc, issues
    too_many = too_many_nodes(file, text)
    if too_many is not None:
        return doc, [too_many]
    composer = COMPOSER(text)
    try:
        node = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        problem = exc.problem or exc.context or "malformed YAML"
        return doc, [SpecIssue(where, f"malformed YAML: {problem}",
                               "check indentation, colons and quotes on this line and the one above")]
    except yaml.YAMLError as exc:
        return doc, [SpecIssue(Location(file, 1, 1), f"malformed YAML: {exc}", "fix the YAML syntax")]
    finally:
        composer.dispose()
    if node is None:
        return doc, [SpecIssue(Location(file, 1, 1), "the file is empty",
                               "start from one of the files in examples/")]
    walker = _Walker(doc)
    doc.data = walker.walk(node, (), 0)
    issues = list(walker.issues)
    if walker.issues.dropped:
        issues.append(SpecIssue(Location(file, len(doc.source_lines) or 1, 1),
                                f"... and {walker.issues.dropped} more problems like these",
                                "fix the ones above first"))
    return doc, issues
