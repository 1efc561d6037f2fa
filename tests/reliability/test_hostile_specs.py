"""Hostile and broken specs and model.configs, generated with hypothesis, through the real CLI.

Four targets: `validate`, `render` and `plan` for specs, `import` for model.configs (and
`validate` of what import writes). Every input must end in exit 0 (valid), 1 (a clear
error naming the file, at path:line:col when it has a place) or 2 (`plan
--detailed-exitcode`: changes); never a traceback, an escaped exception, a hang, a jump in
memory, or a file written outside the project. The CLI runs in-process
(tests/support/cli.py) so that thousands of inputs take minutes.

How many cases run is set in tests/reliability/fuzzing.py: a time box per generated test
in the normal run, `TFSCTL_FUZZ=long` for at least 10,000 cases per target; the tally at
the end of the run says how many each target took.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability.fuzzing import HANG_SECONDS, Budget, MemoryWatch, fuzz_settings
from tests.reliability.tally import Tally
from tests.support.cli import assert_clean_outcome, invoke
from tests.support.paths import REPO, SHARED_TESTDATA
from tests.support.sandbox import base_spec, dump, sandbox
from tfsctl.spec import yamlparse

#: Values of the wrong type or of absurd size, for any node of a spec.
HOSTILE_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.sampled_from([10 ** 100, -1, 2 ** 63, 2 ** 63 - 1, 2 ** 31, 0, float("nan"), float("inf"),
                     -0.0, 1e308, "x" * 100_000, "0" * 5000, "\t", "\x00", "\ufeff", "\u202e",
                     "\ud800", "!!python/object:os.system", "..", "/etc/passwd", ""]),
    st.floats(allow_nan=True), st.text(max_size=40),
)
HOSTILE_VALUES = st.recursive(HOSTILE_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10) | st.integers(), inner, max_size=4)),
    max_leaves=10)

#: Expressions that try to leave the sandbox, hang, or exhaust memory.
JINJA_ABUSE = [
    "{{ undefined }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ port.__init__ }}",
    "{{ cycler.__init__.__globals__ }}", "{{ lipsum(10**6) }}", "{{ range(10**9)|list }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    "{% for i in big %}{% for j in big %}{{ i }}{% endfor %}{% endfor %}",
    "{% set x = 1 %}{{ x }}", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{{ 'x' * 10**10 }}", "{{ ['x'] * 10**9 }}", "{{ 10 ** 10 ** 10 }}", "{{ 2 ** 100000000 }}",
    "{{ '%0999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}", "{{ 'x'.ljust(10**9) }}",
    "{{ big|join(big|join) }}", "{{ big|join('y' * 99999) }}", "{{ big|tojson|length }}",
    "{{ " + "(" * 3000 + "1 }}", "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ port / 0 }}", "{{ port // 0 }}", "{{ 'a' + 1 }}", "{{", "}}", "{% endfor %}", "{# #}{{",
    "{{ self }}", "{{ config }}", "{{ namespace() }}", "{{ port|int(10**100) }}",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a node (dict keys and list indexes)."""
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


def _example_specs() -> list[dict[str, Any]]:
    """The repository's example specs and the base spec: starting points for mutations."""
    specs = [base_spec()]
    for path in sorted((REPO / "examples").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict):
            specs.append(data)
    return specs


STARTS = _example_specs()


@st.composite
def mutated_specs(draw: st.DrawFn) -> bytes:
    """A valid spec with a few nodes replaced, deleted, or given unknown siblings."""
    spec = draw(st.sampled_from(STARTS))
    spec = yaml.safe_load(yaml.safe_dump(spec))  # a private copy
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(spec) if p] or [("apiVersion",)]))
        parent = spec
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "sibling", "template"]))
            if action == "replace":
                parent[path[-1]] = draw(HOSTILE_VALUES)
            elif action == "template":
                parent[path[-1]] = draw(st.sampled_from(JINJA_ABUSE))
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=12))] = draw(HOSTILE_SCALARS)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    try:
        return dump(spec)
    except (yaml.YAMLError, ValueError):
        return repr(spec).encode("utf-8", "surrogatepass")


@st.composite
def corrupted_bytes(draw: st.DrawFn) -> bytes:
    """A valid spec's bytes with bytes inserted, overwritten or cut off."""
    data = bytearray(dump(draw(st.sampled_from(STARTS))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        junk = draw(st.sampled_from([b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"\x00", b"\t", b"\r",
                                     b"\x80\x80", b"\xc3", b"&a", b"*a", b"!!binary ", b"---\n",
                                     b"...\n", b"{", b"]", b": ", b"- ", b"<<: ", b"%YAML 1.1\n"])
                    | st.binary(min_size=1, max_size=8))
        how = draw(st.sampled_from(["insert", "overwrite", "truncate"]))
        if how == "insert":
            data[at:at] = junk
        elif how == "overwrite":
            data[at:at + len(junk)] = junk
        else:
            del data[at:]
    return bytes(data)


def alias_bomb(width: int, depth: int) -> bytes:
    """A "billion laughs": `depth` levels, each a list of `width` aliases of the one below."""
    lines = ["apiVersion: tfsctl/v1", "l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines.append(f"servers: [{{name: s, runtime: local, models: *l{depth}}}]")
    return ("\n".join(lines) + "\n").encode()


def nested(depth: int, style: str) -> bytes:
    """`servers:` nested `depth` levels deep, in flow sequences, flow or block mappings."""
    if style == "flow-seq":
        body = "[" * depth + "]" * depth
    elif style == "flow-map":
        body = "{a: " * depth + "1" + "}" * depth
    else:
        body = "\n" + "".join("  " * i + "a:\n" for i in range(1, depth + 1))
    return f"apiVersion: tfsctl/v1\nservers: {body}\n".encode()


BOMBS: dict[str, bytes] = {
    "billion laughs (10^9)": alias_bomb(10, 9),
    "recursive alias": b"a: &a [*a]\nservers: *a\n",
    "merge-key bomb": b"a: &a {x: 1}\n" + b"".join(
        f"b{i}: &b{i} {{<<: [*{'a' if i == 0 else f'b{i - 1}'}, *{'a' if i == 0 else f'b{i - 1}'}]}}\n"
        .encode() for i in range(40)) + b"servers: [*b39]\n",
    "deep nesting 10,000 (flow sequences)": nested(10_000, "flow-seq"),
    "deep nesting 10,000 (flow mappings)": nested(10_000, "flow-map"),
    "deep nesting 2,000 (block mappings)": nested(2_000, "block"),
    "one 100 kB line of 20,000 duplicate keys": b"{apiVersion: tfsctl/v1, " + b", ".join([b"a: 1"] * 20_000)
                                               + b"}\n",
    "9 MB file": b"# " + b"x" * (9 * 1024 * 1024) + b"\n",
    "8 MB string value": b"apiVersion: tfsctl/v1\nservers: [{name: '" + b"x" * (8 * 1024 * 1024 - 64)
                         + b"'}]\n",
    "not utf-8": b"apiVersion: tfsctl/v1\nservers: [{name: \xff\xfe}]\n",
    "utf-16 with BOM": "apiVersion: tfsctl/v1\nservers: []\n".encode("utf-16"),
    "utf-8 BOM twice": b"\xef\xbb\xbf\xef\xbb\xbfapiVersion: tfsctl/v1\n",
    "NUL byte": b"apiVersion: tfsctl/v1\x00\nservers: []\n",
    "python tag": b"apiVersion: !!python/object/apply:os.system ['touch /tmp/tfsctl-pwned']\n",
    "binary tag": b"apiVersion: !!binary aGVsbG8=\nservers: []\n",
    "duplicate keys": b"apiVersion: tfsctl/v1\napiVersion: tfsctl/v1\nservers: []\n",
    "tabs for indentation": b"apiVersion: tfsctl/v1\nservers:\n\t- name: s\n",
    "empty": b"",
    "only a comment": b"# nothing\n",
    "two documents": b"apiVersion: tfsctl/v1\n---\napiVersion: tfsctl/v1\n",
    "a list": b"- 1\n- 2\n",
    "huge version number": b"apiVersion: tfsctl/v1\nservers: [{name: s, runtime: local, models: "
                           b"[{name: m, versions: {99999999999999999999999999: {}}}]}]\n",
    "huge port": b"apiVersion: tfsctl/v1\nservers: [{name: s, ports: {grpc: " + b"9" * 5000 + b"}}]\n",
    "jinja nested loops over a big variable": b"apiVersion: tfsctl/v1\nvariables: {big: ["
                                              + b", ".join([b"1"] * 50_000) + b"]}\nservers: [{name: "
                                              b"\"{% for i in big %}{% for j in big %}x{% endfor %}"
                                              b"{% endfor %}\"}]\n",
}


SPEC_TARGETS = {
    "validate": lambda spec: ("validate", str(spec)),
    "render": lambda spec: ("render", "-f", str(spec), "--what", "all"),
    "render --what kubernetes": lambda spec: ("render", "-f", str(spec), "--what", "kubernetes"),
    "plan": lambda spec: ("plan", "-f", str(spec), "--detailed-exitcode", "--json"),
}


def check_spec(spec: bytes, tally: Tally, kind: str) -> None:
    """validate, render and plan on `spec`: each a clean outcome, none hung or blowing up."""
    with sandbox() as box:
        box.spec_file.write_bytes(spec)
        for target, argv in SPEC_TARGETS.items():
            with MemoryWatch():
                result = invoke(*argv(box.spec_file), timeout=HANG_SECONDS)
            assert_clean_outcome(result, box.spec_file)
            tally.add(f"target {target}")
    tally.add(kind)


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_and_broken_files(name: str, tally: Tally) -> None:
    check_spec(BOMBS[name], tally, "hostile spec files (fixed bombs)")


def test_loader_limits_hold() -> None:
    """The limits the bombs rely on exist and are modest (memory and stack stay bounded)."""
    assert yamlparse.MAX_NODES <= 1_000_000 and yamlparse.MAX_DEPTH <= 100
    assert yamlparse.MAX_BYTES <= 16 * 1024 * 1024 and yamlparse.MAX_ISSUES <= 10_000


@pytest.mark.parametrize("name, expected", [
    ("billion laughs (10^9)", "too large once aliases expand"),
    ("deep nesting 10,000 (flow sequences)", "nesting depth"),
    ("one 100 kB line of 20,000 duplicate keys", "duplicate key"),
    ("jinja nested loops over a big variable", "statements are not supported"),
    ("not utf-8", "not valid UTF-8"),
    ("python tag", "is not allowed"),
])
def test_bombs_say_what_is_wrong(name: str, expected: str, tally: Tally) -> None:
    """The reason is specific, located, and short (no 100 kB line echoed 20,000 times)."""
    with sandbox() as box:
        box.spec_file.write_bytes(BOMBS[name])
        result = invoke("validate", str(box.spec_file))
    assert result.code == 1 and expected in result.err, str(result)
    assert f"{box.spec_file}:" in result.err and len(result.err) < 100_000, str(result)[:3000]
    tally.add("hostile spec files (fixed bombs)")


#: One time box per generated test (see tests/reliability/fuzzing.py).
BUDGETS: dict[str, Budget] = {}


def out_of_time(test: str) -> bool:
    return BUDGETS.setdefault(test, Budget()).spent()


@fuzz_settings(share=0.02)
@given(width=st.integers(2, 30), depth=st.integers(2, 12))
def test_generated_alias_bombs(width: int, depth: int, tally: Tally) -> None:
    if not out_of_time("alias bombs"):
        check_spec(alias_bomb(width, depth), tally, "generated specs: alias bombs")


@fuzz_settings(share=0.02)
@given(depth=st.integers(50, 5_000), style=st.sampled_from(["flow-seq", "flow-map", "block"]))
def test_generated_deep_nesting(depth: int, style: str, tally: Tally) -> None:
    if not out_of_time("deep nesting"):
        check_spec(nested(depth, style), tally, "generated specs: deep nesting")


@fuzz_settings(share=0.45)
@given(spec=mutated_specs())
def test_mutated_specs(spec: bytes, tally: Tally) -> None:
    if not out_of_time("mutated specs"):
        check_spec(spec, tally, "generated specs: mutated")


@fuzz_settings(share=0.2)
@given(spec=corrupted_bytes())
def test_corrupted_bytes(spec: bytes, tally: Tally) -> None:
    if not out_of_time("corrupted specs"):
        check_spec(spec, tally, "generated specs: corrupted bytes")


@fuzz_settings(share=0.16)
@given(spec=st.one_of(st.binary(max_size=2000),
                      st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_and_text(spec: bytes, tally: Tally) -> None:
    if not out_of_time("random specs"):
        check_spec(spec, tally, "generated specs: random bytes and text")


@fuzz_settings(share=0.15)
@given(template=st.sampled_from(JINJA_ABUSE) | st.lists(st.sampled_from(JINJA_ABUSE), min_size=2,
                                                         max_size=4).map("".join),
       field=st.sampled_from(["image", "name", "model_root", "env", "ports", "flags", "smoke"]))
def test_jinja_abuse(template: str, field: str, tally: Tally) -> None:
    """Templates that try to escape the sandbox, loop forever, allocate gigabytes or make
    numbers Python cannot print are located errors; none may take the process down."""
    if out_of_time("jinja abuse"):
        return
    spec = base_spec()
    spec["variables"]["big"] = [str(i) for i in range(2_000)]
    server = spec["servers"][0]
    if field in ("env", "flags"):
        server.setdefault(field, {})["T"] = template
    elif field == "ports":
        server["ports"]["grpc"] = template
    elif field == "smoke":
        server["models"][0]["smoke"][0]["request"]["instances"] = [template]
    else:
        server[field] = template
    check_spec(dump(spec), tally, "generated specs: jinja abuse")


# ------------------------------------------------------------------ model.configs for import


def _model_config_starts() -> list[str]:
    """model.configs to mutate: TF Serving's own test config, what the examples render to,
    and one using every field import maps (labels, specific versions, platform)."""
    from tfsctl.runtimes.desired import desired_model_entries
    from tfsctl.serverconfig.model_config import render_text
    from tfsctl.spec.load import load_spec

    starts = [
        'model_config_list {\n  config {\n    name: "m"\n    base_path: "/srv/models/m"\n'
        '    model_platform: "tensorflow"\n    model_version_policy { specific { versions: 1 '
        'versions: 2 } }\n    version_labels { key: "stable" value: 1 }\n'
        '    version_labels { key: "canary" value: 2 }\n  }\n  config {\n    name: "n"\n'
        '    base_path: "/srv/models/n"\n    model_version_policy { all {} }\n  }\n}\n',
    ]
    tfs_config = SHARED_TESTDATA / "good_model_config.txt"
    if tfs_config.is_file():
        starts.append(tfs_config.read_text())
    for path in sorted((REPO / "examples").glob("*.yaml")):
        try:
            spec = load_spec(path).spec
        except Exception:  # noqa: BLE001 - an example that needs variables is skipped
            continue
        starts.extend(render_text(desired_model_entries(server)) for server in spec.servers)
    return starts


MODEL_CONFIGS = _model_config_starts()
_PROTO_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?\d+|[{}<>:\[\],]')
#: Tokens that break a model.config in the ways people and tools do.
HOSTILE_TOKENS = [
    "{", "}", "<", ">", ":", "-1", "-9223372036854775808", "9223372036854775808", "1e400",
    "99999999999999999999999999", '""', '"TensorFlow"', '"a/../b"', '"can-ary"', '"../../etc"',
    '"\\xff\\xfe"', '"\\000"', '"${UNSET_TFSCTL_VAR}"', '"s3://bucket/m"', "config", "name",
    "logging_config { sampling_config { sampling_rate: 1 } }", "model_type: TENSORFLOW",
    "model_type: OTHER", "custom_model_config { }", "[type.googleapis.com/google.protobuf.Any] {",
    "model_version_policy { latest { num_versions: 0 } }", "version_labels { key: \"x\" }",
    'config { name: "m" base_path: "/srv/models/m" }', "#", "'", '"', "\\",
]


@st.composite
def mutated_model_configs(draw: st.DrawFn) -> bytes:
    """A model.config with tokens replaced, duplicated, deleted, or hostile ones inserted."""
    text = draw(st.sampled_from(MODEL_CONFIGS))
    tokens = [m for m in _PROTO_TOKEN.finditer(text)]
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        token = draw(st.sampled_from(tokens))
        action = draw(st.sampled_from(["replace", "insert", "delete", "repeat"]))
        start, end = token.span()
        if action == "delete":
            text = text[:start] + text[end:]
        elif action == "repeat":
            text = text[:start] + token.group() * draw(st.integers(2, 300)) + text[end:]
        else:
            junk = draw(st.sampled_from(HOSTILE_TOKENS) | st.text(max_size=12))
            text = text[:start] + junk + (" " + text[start:] if action == "insert" else text[end:])
        tokens = [m for m in _PROTO_TOKEN.finditer(text)]
    return text.encode("utf-8", "surrogatepass")


NAMES = st.sampled_from(["m", "half_plus_two", "", "a/../b", "..", "a b", "TensorFlow", "x" * 200]) \
    | st.text(max_size=12)
PLATFORMS = st.sampled_from(["tensorflow", "TensorFlow", "tflite", ""]) | st.text(max_size=8)
VERSIONS = st.integers(-3, 5) | st.sampled_from([2 ** 63 - 1, -(2 ** 63)])


@st.composite
def structured_model_configs(draw: st.DrawFn) -> bytes:
    """A syntactically valid model.config of generated entries: every field, hostile values."""
    blocks = []
    for _ in range(draw(st.integers(0, 4))):
        fields = [f"name: {_quoted(draw(NAMES))}"]
        if draw(st.booleans()):
            fields.append(f"base_path: {_quoted(draw(NAMES.map(lambda n: '/srv/models/' + n)))}")
        if draw(st.booleans()):
            platform = draw(PLATFORMS)
            fields.append(f"model_platform: {_quoted(platform)}")
        policy = draw(st.sampled_from(["", "all {}", "latest { num_versions: %d }", "specific"]))
        if policy == "specific":
            versions = draw(st.lists(VERSIONS, max_size=4))
            fields.append("model_version_policy { specific { "
                          + " ".join(f"versions: {v}" for v in versions) + " } }")
        elif policy:
            fields.append("model_version_policy { "
                          + (policy % draw(st.integers(0, 2 ** 32 - 1)) if "%d" in policy else policy)
                          + " }")
        for label, version in draw(st.dictionaries(NAMES, VERSIONS, max_size=3)).items():
            fields.append(f"version_labels {{ key: {_quoted(label)} value: {version} }}")
        blocks.append("  config {\n    " + "\n    ".join(fields) + "\n  }\n")
    return ("model_config_list {\n" + "".join(blocks) + "}\n").encode("utf-8", "surrogatepass")


def _quoted(text: str) -> str:
    """A protobuf text-format string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def check_import(config: bytes, tally: Tally, kind: str) -> None:
    """import of `config`: a clean outcome; a spec it writes passes validate."""
    with sandbox() as box:
        source = box.project / "model.config"
        source.write_bytes(config)
        output = box.project / "imported.yaml"
        with MemoryWatch():
            result = invoke("import", str(source), "-o", str(output), timeout=HANG_SECONDS)
        assert_clean_outcome(result, source)
        assert result.code in (0, 1), str(result)
        if result.code == 0:
            check = invoke("validate", str(output), timeout=HANG_SECONDS)
            assert check.code == 0, f"import wrote a spec validate rejects:\n{config!r}\n{check}"
        else:
            assert not output.exists(), "a failed import wrote its output"
    tally.add("target import")
    tally.add(kind)


@fuzz_settings(share=0.5)
@given(config=mutated_model_configs())
def test_mutated_model_configs(config: bytes, tally: Tally) -> None:
    if not out_of_time("mutated model.configs"):
        check_import(config, tally, "generated model.configs: mutated")


@fuzz_settings(share=0.3)
@given(config=structured_model_configs())
def test_structured_model_configs(config: bytes, tally: Tally) -> None:
    if not out_of_time("structured model.configs"):
        check_import(config, tally, "generated model.configs: structured")


@fuzz_settings(share=0.2)
@given(config=st.sampled_from(MODEL_CONFIGS).map(str.encode).flatmap(
    lambda text: st.tuples(st.just(text), st.integers(0, len(text)),
                           st.sampled_from([b"\xff", b"\x00", b"{", b"}", b"<", b"\"", b"#", b"\\"])
                           | st.binary(min_size=1, max_size=6)))
       .map(lambda t: t[0][:t[1]] + t[2] + t[0][t[1]:]))
def test_corrupted_model_configs(config: bytes, tally: Tally) -> None:
    if not out_of_time("corrupted model.configs"):
        check_import(config, tally, "generated model.configs: corrupted bytes")


@pytest.mark.parametrize("template, expected", [
    ("{{ port }}", 18511), ("{{ port + 1 }}", 18512), ("x-{{ name|upper }}", "x-HPT"),
    ("{{ tags|join(',') }}", "a,b"), ("{{ missing|default('d') }}", "d"), ("{{ 2 ** 10 }}", 1024),
    ("{{ 'ab' * 3 }}", "ababab"),
])
def test_ordinary_templates_still_work(template: str, expected: Any) -> None:
    """The bounds on templates leave substitution and simple filters alone."""
    from tfsctl.spec.sandbox import render_string

    assert render_string(template, {"port": 18511, "name": "hpt", "tags": ["a", "b"]}) == expected


def test_no_python_object_was_constructed() -> None:
    """The `!!python/object/apply` bomb above must not have run its command."""
    assert not Path("/tmp/tfsctl-pwned").exists()
