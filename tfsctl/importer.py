"""`tfsctl import`: an existing model.config becomes a spec a team can own.

The resulting spec renders back to an equivalent model.config (same names,
base paths, platforms, policies and labels). Versions that labels or a
specific policy name are declared with no source (they already exist on disk).
`${VAR}` references in base paths are expanded from the environment, as
TensorFlow Serving's own test configs expect; an unset one is an error.
Where the server sees the model root, and whether base paths may leave it,
comes from the chosen runtime's profile.

Problems are reported like `tfsctl validate` reports them (file:line:column, the
line, what to fix), located in the model.config. Import never writes a spec that
`validate` would reject: entries TF Serving or tfsctl cannot take (an empty or
repeated name, a negative version, a label TF Serving refuses, `TensorFlow` for
`tensorflow`, request logging) are refused with the reason, and the finished spec
is validated before it is returned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tfsctl.errors import TfsctlError
from tfsctl.runtimes.profile import RuntimeProfile
from tfsctl.runtimes.registry import profile, runtime_checks
from tfsctl.serverconfig.model_config import ModelConfigError, ModelEntry, PolicyKind, parse_text
from tfsctl.spec.errors import Location, SpecError, SpecIssue
from tfsctl.spec.fields import LABEL_PATTERN, NAME_PATTERN
from tfsctl.spec.load import load_spec
from tfsctl.spec.readfile import InputFileError, read_limited
from tfsctl.spec.textproto import MAX_NESTING, Structure, brace_hint, scan
from tfsctl.spec.yamlparse import MAX_BYTES, decode_utf8

_CONFIG_PATH = ("model_config_list", "config")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match[1]
        if name not in environ:
            raise TfsctlError(f"model.config refers to ${{{name}}}, which is not set",
                              f"export {name}=/path/to/model before importing")
        return environ[name]

    return _VAR.sub(sub, text)


def _model(entry: ModelEntry, runtime: RuntimeProfile, model_root: PurePosixPath) -> dict[str, Any]:
    model: dict[str, Any] = {"name": entry.name}
    base = PurePosixPath(entry.base_path)
    seen = PurePosixPath(runtime.seen_root(str(model_root)))
    if seen in base.parents:
        relative = base.relative_to(seen)
    elif runtime.may_leave_root:
        relative = base
    else:
        raise TfsctlError(f"model {entry.name!r}: base path {base} is not under {seen}",
                          f"a {runtime.kind} server sees only {seen}; use another --runtime")
    if str(relative) != entry.name:
        model["base_path"] = str(relative)
    if entry.platform != "tensorflow":
        model["platform"] = entry.platform
    policy = entry.policy
    declared: set[int] = set(dict(entry.labels).values())
    if policy.kind is PolicyKind.ALL:
        model["policy"] = "all"
    elif policy.kind is PolicyKind.SPECIFIC:
        model["policy"] = {"specific": list(policy.specific)}
        declared |= set(policy.specific)
    else:
        model["policy"] = {"latest": policy.latest}
    if declared:
        model["versions"] = {version: None for version in sorted(declared)}
    if entry.labels:
        model["labels"] = dict(entry.labels)
    return model


def _read(file: Path) -> tuple[str, list[str], Structure]:
    """The text of a model.config, its lines and its block structure; SpecError if unusable."""
    try:
        raw = read_limited(file, MAX_BYTES, "model.config")
    except InputFileError as exc:
        raise SpecError([SpecIssue(Location(file, 1, 1), exc.message, exc.hint)]) from None
    text, issues = decode_utf8(file, raw)
    if text is None:
        raise SpecError(issues)
    lines = text.splitlines()
    structure = scan(text)
    if structure.too_deep is not None:
        raise SpecError([SpecIssue(Location(file, *structure.too_deep),
                                   f"messages nest more than {MAX_NESTING} levels deep",
                                   "a model.config needs a few levels; check the braces")], lines)
    return text, lines, structure


def _parse(file: Path, text: str, lines: list[str], structure: Structure
           ) -> tuple[ModelEntry, ...]:
    try:
        return parse_text(text)
    except ModelConfigError as exc:
        line, column = exc.line or 1, exc.column or 1
        hint = brace_hint(structure, line, column) or \
            "fix the protobuf text format (see TF Serving's serving_config guide)"
        raise SpecError([SpecIssue(Location(file, line, column),
                                   f"not a valid model.config: {exc.message}", hint)],
                        lines) from None


def _entry_problems(file: Path, entries: tuple[ModelEntry, ...], structure: Structure
                    ) -> Iterator[SpecIssue]:
    """Entries a spec cannot hold, located at their `config {` block (or the field)."""
    blocks = structure.blocks_at(_CONFIG_PATH)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        block = blocks[i] if i < len(blocks) and len(blocks) == len(entries) else None

        def at(name: str, block: Any = block) -> Location:
            place = block.fields.get(name) if block else None
            place = place or ((block.line, block.column) if block else (1, 1))
            return Location(file, *place)

        which = f"model {entry.name!r}" if entry.name else f"config #{i + 1}"
        if not entry.name:
            yield SpecIssue(at("name"), f"{which} has no name", "give it a `name:`")
        elif not re.match(NAME_PATTERN, entry.name) or ".." in entry.name:
            yield SpecIssue(at("name"), f"model name {entry.name!r} is not a safe name",
                            "letters, digits, '_', '-', '.'; no '/', no '..' (it becomes a "
                            "directory and a container name)")
        elif entry.name in seen:
            yield SpecIssue(at("name"), f"model {entry.name!r} is listed twice",
                            "TF Serving refuses that too: keep one entry")
        seen.add(entry.name)
        if entry.platform != entry.platform.lower() and entry.platform.lower() == "tensorflow":
            yield SpecIssue(at("model_platform"), f"{which}: platform {entry.platform!r} is not "
                            "one TF Serving knows", 'platform names are lower case: '
                            'model_platform: "tensorflow"')
        elif not re.match(r"^[a-z][a-z0-9_]*$", entry.platform):
            yield SpecIssue(at("model_platform"), f"{which}: platform {entry.platform!r} is not "
                            "a platform name", "use the platform's name, e.g. \"tensorflow\"")
        versions = [*entry.policy.specific, *(v for _, v in entry.labels)]
        if any(v < 0 for v in versions):
            yield SpecIssue(at("model_version_policy") if any(v < 0 for v in entry.policy.specific)
                            else at("version_labels"),
                            f"{which}: version {min(versions)} is negative",
                            "versions are the directory numbers 0, 1, 2, ...")
        for label, _ in entry.labels:
            if not re.match(LABEL_PATTERN, label):
                yield SpecIssue(at("version_labels"), f"{which}: label {label!r} is not a "
                                "label TF Serving accepts", "labels are letters, digits and '_' "
                                "(TF Serving: [a-zA-Z0-9_]+), starting with a letter or '_'")
    for block in blocks:
        if "logging_config" in block.fields:
            yield SpecIssue(Location(file, *block.fields["logging_config"]),
                            "logging_config (request logging) is not supported: the "
                            "open-source TF Serving build fails at start-up with it",
                            "remove the logging_config block")


def import_file(file: Path, *, server_name: str, runtime: str, model_root: str | None,
                spec_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """YAML text of a spec serving the models of model.config `file`, validated as if it
    were saved in `spec_dir`; raises SpecError (located in `file`) or TfsctlError."""
    text, lines, structure = _read(file)
    entries = _parse(file, text, lines, structure)
    problems = list(_entry_problems(file, entries, structure))
    if problems:
        raise SpecError(problems, lines)
    spec_text = import_entries(entries, server_name=server_name, runtime=runtime,
                               model_root=model_root, environ=environ)
    try:
        load_spec(spec_dir / "imported.yaml", raw=spec_text.encode("utf-8"),
                  checks=runtime_checks)
    except SpecError as error:
        reasons = "; ".join(issue.message for issue in error.issues[:5])
        raise TfsctlError(f"{file}: the imported spec would not validate: {reasons}",
                          "fix the model.config, or import it and edit the spec by hand") \
            from None
    return spec_text


def import_entries(entries: tuple[ModelEntry, ...], *, server_name: str, runtime: str,
                   model_root: str | None, environ: Mapping[str, str] | None = None) -> str:
    """YAML text of a spec serving exactly `entries`."""
    environ = os.environ if environ is None else environ
    entries = tuple(
        ModelEntry(e.name, expand_env(e.base_path, environ), e.platform, e.policy, e.labels)
        for e in entries)
    chosen = profile(runtime)
    if model_root is None and chosen.mounts_root:
        raise TfsctlError(f"a {runtime} server needs the host directory it sees as "
                          f"{chosen.seen_root('')}", "pass --model-root DIR")
    if model_root is None:
        parents = [str(PurePosixPath(e.base_path).parent) for e in entries] or ["models"]
        model_root = os.path.commonpath(parents) if all(p.startswith("/") for p in parents) \
            else "models"
    root = PurePosixPath(model_root)
    models = [_model(e, chosen, root) for e in entries]
    server: dict[str, Any] = {"name": server_name, "runtime": runtime,
                              "model_root": model_root}
    if chosen.may_leave_root and any(
            root not in PurePosixPath(e.base_path).parents for e in entries):
        server["allow_external_base_paths"] = True
    server["models"] = models
    spec = {"apiVersion": "tfsctl/v1", "servers": [server]}
    header = "# Imported by `tfsctl import`; review, then commit.\n"
    return header + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
