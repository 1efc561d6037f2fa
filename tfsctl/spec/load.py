"""Load a spec file: YAML -> variables -> typed models -> semantic checks.

Each stage collects every problem it finds; the first stage with problems
stops the pipeline (later stages would only report echoes of them) and all its
problems are raised together as one `SpecError`.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tfsctl.anchor import anchor_of
from tfsctl.spec import kubernetes as spec_kubernetes
from tfsctl.spec import model as spec_model
from tfsctl.spec import sources as spec_sources
from tfsctl.spec.checks import Finding, run_checks
from tfsctl.spec.errors import SpecError, SpecIssue
from tfsctl.spec.model import Spec
from tfsctl.spec.runtimes import OPTIONS_MODELS, RUNTIMES, runtimes_with
from tfsctl.spec.runtimes import parts as runtime_parts
from tfsctl.spec.templating import render_templates
from tfsctl.spec.yamlparse import read_source
from tfsctl.spec.yamlsource import YamlDocument, load_yaml

#: Sections that hold variables themselves, so are not templated.
_UNTEMPLATED = ("variables", "environments")


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec and where it came from (saved plans and history record these)."""

    spec: Spec
    file: Path
    environment: str | None
    variables: Mapping[str, Any] = field(default_factory=dict)
    digest: str = ""
    text: str = ""  # the exact text validated (saved plans store it)
    base_dir: Path | None = None  # the resolved directory relative paths were resolved against

    @property
    def anchor(self) -> str:
        """The spec's anchor (its repository, else its directory: `tfsctl.anchor`), which
        live fingerprints and plan files leave out, so a checkout elsewhere matches."""
        return str(anchor_of(self.file))

    def fingerprint_roots(self) -> tuple[str | None, str]:
        """What `LiveState.fingerprint` leaves out for this spec: its directory, its anchor."""
        return (str(self.base_dir) if self.base_dir else None), self.anchor


@cache
def _field_names() -> frozenset[str]:
    """Every key the schema knows, to suggest the intended one for a typo."""
    names: set[str] = set()
    models = [v for module in (spec_model, spec_sources, spec_kubernetes, runtime_parts)
              for v in vars(module).values()] + list(OPTIONS_MODELS)
    for value in models:
        if isinstance(value, type) and issubclass(value, BaseModel):
            for name, info in value.model_fields.items():
                names.add(info.alias or name)
    return frozenset(names)


def _issue_from_pydantic(doc: YamlDocument, error: Any) -> SpecIssue:
    path = _yaml_path(tuple(error["loc"]))
    on_key = "[key]" in error["loc"]
    kind = error["type"]
    if kind == "extra_forbidden" and _RUNTIME_OPTIONS in error["loc"]:
        return _foreign_key(doc, path, error["loc"])
    if kind == "union_tag_invalid" and error["loc"][-1] == _RUNTIME_OPTIONS:
        at = (*path[:-1], "runtime")
        given = _shown(error["input"].get("runtime"))
        return SpecIssue(doc.locate(at), f"{_readable(at)}: {given} is not a runtime",
                         f"use one of: {', '.join(RUNTIMES)}")
    if kind == "extra_forbidden":
        key = path[-1]
        close = difflib.get_close_matches(str(key), _field_names(), n=1, cutoff=0.75)
        hint = f"did you mean `{close[0]}`?" if close else "remove it; see `tfsctl schema`"
        return SpecIssue(doc.locate(path, key=True), f"unknown key {key!r}", hint)
    if kind == "missing":
        return SpecIssue(doc.locate(path[:-1]), f"missing required key {path[-1]!r}",
                         f"add `{path[-1]}:`")
    got = error.get("input")
    got_text = "" if isinstance(got, (dict, list)) or got is None else f" (got {_shown(got)})"
    message = error["msg"].removeprefix("Value error, ")
    where = _readable(path)
    hint = _FIELD_HINTS.get(str(path[-1]) if path else "", "") if kind == "value_error" else ""
    if kind == "string_pattern_mismatch" and len(path) > 1 and path[-2] == "labels":
        hint = ("TF Serving accepts labels of letters, digits and '_' only ([a-zA-Z0-9_]+); "
                "start with a letter or '_', e.g. `canary_2`")
    return SpecIssue(doc.locate(path, key=on_key), f"{where}: {message}{got_text}",
                     hint or _HINTS.get(kind, "see `tfsctl schema` for what this key takes"))


def _foreign_key(doc: YamlDocument, path: tuple[Any, ...], loc: tuple[Any, ...]) -> SpecIssue:
    """A server key its runtime does not take: named with the runtimes that have it."""
    key = str(path[-1])
    runtime = loc[loc.index(_RUNTIME_OPTIONS) + 1]
    owners = runtimes_with(key)
    where = doc.locate(path, key=True)
    if not owners:
        close = difflib.get_close_matches(key, _field_names(), n=1, cutoff=0.75)
        hint = f"did you mean `{close[0]}`?" if close else "remove it; see `tfsctl schema`"
        return SpecIssue(where, f"unknown key {key!r}", hint)
    named = " and ".join(f"`runtime: {owner}`" for owner in owners)
    return SpecIssue(where, f"{key!r} is not a setting of the {runtime} runtime",
                     f"only {named} {'has' if len(owners) == 1 else 'have'} `{key}`: remove it "
                     "here, or change the server's runtime")


#: How much of a bad value an error message quotes.
MAX_SHOWN_VALUE = 80


def _shown(value: Any) -> str:
    """A bad value as an error quotes it: a number of thousands of digits (which `repr`
    refuses past 4,300) by its size, a long string by its start."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"a {'negative ' if value < 0 else ''}number of about {digits} digits"
    text = repr(value)
    if len(text) > MAX_SHOWN_VALUE:
        return f"{text[:MAX_SHOWN_VALUE]}... ({len(text)} characters)"
    return text


_HINTS = {
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "greater_than_equal": "use a larger number",
    "less_than_equal": "use a smaller number",
    "string_type": "quote the value to make it a string",
    "literal_error": "use one of the values named",
    "enum": "use one of the values named",
    "dict_type": "write a mapping (key: value lines)",
    "list_type": "write a list ([a, b] or '- ' lines)",
    "string_pattern_mismatch": "use only the characters allowed",
    "policy_kind": "e.g. `policy: all`, `policy: {latest: 2}` or `policy: {specific: [1, 2]}`",
    "source_kind": "e.g. `source: {saved_model: ./exports/1}`",
    "path_type": "write a path as a string",
    "ip_any_address": "write an IP address such as 127.0.0.1",
}


_FIELD_HINTS = {
    "name": "rename it, e.g. half_plus_two: letters, digits, '_', '-' and '.' only",
    "flags": "remove it from `flags:` and use the matching spec setting",
    "specific": "list each version once",
    "smoke": "keep `version` or `label`, not both",
    "kubernetes": "e.g. `kubernetes: {model_volume: {claim: models}}`; see README, Scaling out",
    "grace_seconds": "raise grace_seconds or lower drain_seconds",
    "base_path": "copy the model to a directory under the model root (e.g. `aws s3 sync`) "
                 "and point base_path there",
}


def _yaml_path(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Pydantic locations name union branches and dict-key parts; YAML paths do not.

    A union's tag (`saved_model`, `latest`, ...) follows the field holding the
    union (`source`, `policy`) and is dropped once; a server's `runtime_options` and
    their tag are dropped both (the YAML has their keys on the server itself); `[key]`
    parts for errors in dict keys are folded away; version keys are numbers in the YAML
    paths.
    """
    out: list[Any] = []
    for part in loc:
        if part == "[key]":
            continue
        if out and out[-1] == _RUNTIME_OPTIONS and part in RUNTIMES:
            out.pop()  # a runtime's options are written beside the server's own keys
            continue
        if out and out[-1] in _UNION_FIELDS and part in _UNION_FIELDS[out[-1]] and (
                len(out) < 2 or out[-2] != "<tag>"):
            out.append("<tag>")
            continue
        if isinstance(part, str) and part.isdigit() and out and out[-1] == "versions":
            part = int(part)
        out.append(part)
    return tuple(p for p in out if p != "<tag>")


_RUNTIME_OPTIONS = "runtime_options"
_UNION_FIELDS = {"source": ("saved_model", "checkpoint", "keras"),
                 "policy": ("all", "latest", "specific")}


def _readable(path: tuple[Any, ...]) -> str:
    """`servers[0].models[1].policy`: the address a reviewer can find in the file."""
    text = ""
    for i, part in enumerate(path):
        if isinstance(part, int) and i and path[i - 1] != "versions":
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "spec"


def _variables(doc: YamlDocument, data: dict[str, Any], environment: str | None,
               overrides: Mapping[str, Any]) -> tuple[dict[str, Any], list[SpecIssue]]:
    """Base variables, then the chosen environment's, then --var overrides."""
    issues: list[SpecIssue] = []
    base = data.get("variables") or {}
    envs = data.get("environments") or {}
    values = dict(base) if isinstance(base, dict) else {}
    if environment is not None:
        chosen = envs.get(environment) if isinstance(envs, dict) else None
        if chosen is None:
            known = ", ".join(sorted(envs)) if isinstance(envs, dict) and envs else "none"
            issues.append(SpecIssue(doc.locate(("environments",)),
                                    f"environment {environment!r} is not defined",
                                    f"use one of the defined environments: {known}"))
        elif isinstance(chosen, dict) and isinstance(chosen.get("variables"), dict):
            values.update(chosen["variables"])
    values.update(overrides)
    return values, issues


def load_spec(file: Path, *, environment: str | None = None,
              overrides: Mapping[str, Any] | None = None, raw: bytes | None = None,
              checks: Callable[[Spec], Iterable[Finding]] | None = None) -> LoadedSpec:
    """Load and validate `file`; raises `SpecError` listing every problem found.

    `checks` adds rules the spec package cannot know (each runtime's own, from the
    runtime registry), reported exactly like the spec's."""
    file = Path(file)
    if raw is None:
        raw, issues = read_source(file)
        if raw is None:
            raise SpecError(issues)
    doc, issues = load_yaml(file, raw)
    if issues:
        raise SpecError(issues, doc.source_lines)
    if not isinstance(doc.data, dict):
        raise SpecError([SpecIssue(doc.locate(()), "a spec is a mapping at the top level",
                                   "start with `apiVersion: tfsctl/v1` and `servers:`")],
                        doc.source_lines)
    variables, issues = _variables(doc, doc.data, environment, overrides or {})
    rendered: dict[str, Any] = {}
    for key, value in doc.data.items():
        if key in _UNTEMPLATED:
            rendered[key] = value
            continue
        rendered[key], found = render_templates(doc, value, variables, (key,))
        issues.extend(found)
    if issues:
        raise SpecError(issues, doc.source_lines)
    try:
        base_dir = file.resolve().parent
        spec = Spec.model_validate(rendered, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise SpecError([_issue_from_pydantic(doc, e) for e in exc.errors()],
                        doc.source_lines) from None
    findings = run_checks(spec, checks)
    if findings:
        raise SpecError([SpecIssue(doc.locate(f.path, key=f.on_key), f.message, f.hint)
                         for f in findings], doc.source_lines)
    return LoadedSpec(spec=spec, file=file, environment=environment, variables=variables,
                      digest=hashlib.sha256(raw).hexdigest(), text=raw.decode("utf-8-sig"),
                      base_dir=base_dir)
