"""The import structure holds: every import goes down the layers, and nothing imports in a
circle (lazy imports inside functions count too: they are imports all the same).

The layers, lowest first, are the README's "How it works" picture: shared helpers, the
spec, the server's own config files (and the traffic and rollout rooms beside them), the
runtimes (and the Kubernetes renderer beside them), live state, exports, the pure plan,
planning (observe + diff), import and policies, apply and the compatible server, the CLI
on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tfsctl"

#: top-level unit (a subpackage or a module of tfsctl/) -> its layer
LAYERS: dict[str, int] = {
    "__init__": 0, "errors": 0, "failpoints": 0, "atomic": 0, "endpoints": 0, "protos": 0,
    "anchor": 0,
    "journal": 1, "jsondoc": 1, "tfenv": 1,
    "spec": 2,
    "serverconfig": 3, "servingapi": 3, "traffic": 3, "rollout": 3,
    "runtimes": 4, "kubernetes": 4,
    "live": 5,
    "export": 6,
    "plan": 7,
    "planning": 8, "planfile": 8, "importer": 8, "rego": 8,
    "apply": 9, "serve": 9, "gateway": 9,
    "cli": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _source(module: str) -> Path:
    return PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")


def _imports(path: Path) -> set[str]:
    """Every tfsctl module `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tfsctl"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == "tfsctl":
            found.add(node.module)
            # `from tfsctl.x import y` may name a submodule y
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if _source(f"{node.module}.{a.name}").exists()}
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_every_unit_has_a_layer() -> None:
    units = {_unit(m) for m in _graph()}
    assert units <= set(LAYERS), f"give these a layer in LAYERS: {sorted(units - set(LAYERS))}"


def test_imports_go_downward_only() -> None:
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            here, there = _unit(module), _unit(target)
            if here != there and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{module} -> {target} (layer {LAYERS[here]} -> {LAYERS[there]})")
    assert not upward, "imports that do not go down:\n" + "\n".join(sorted(upward))


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.parametrize("level", ["module", "package"])
def test_no_import_cycles(level: str) -> None:
    graph = _graph()
    if level == "package":
        packed: dict[str, set[str]] = {}  # units: subpackages and top-level modules
        for module, targets in graph.items():
            packed.setdefault(_unit(module), set()).update(
                _unit(t) for t in targets if _unit(t) != _unit(module))
        graph = packed
    cycle = _cycle(graph)
    assert cycle is None, f"{level} import cycle: {' -> '.join(cycle)}"


def test_the_checks_can_fail() -> None:
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _unit("tfsctl.plan.diff") == "plan" and _unit("tfsctl") == "__init__"
