"""The layout holds: the library never imports the CLI, and no module imports itself round a circle.

The graph is read from the source with :mod:`ast` (every ``import`` and ``from ... import``,
at module level or inside a function: a lazy import is still a dependency), over every
module of the four packages. An import of ``a.b.c`` is an edge to ``a.b.c``; ``from a.b
import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``. The implicit
import of a parent package (``a`` before ``a.b``) is not an edge: Python does that for
every submodule and it is no choice of the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("blend", "oof_store", "oof_common", "base_models")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """``{module: {modules it imports}}`` over the four packages."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = mod if is_pkg else mod.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules else stem
                           for a in node.names]
            for t in targets:
                r = _resolve(t, modules) if t.split(".")[0] in PACKAGES else None
                if r and r != mod:
                    edges.add(r)
        graph[mod] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_cli(mod: str) -> bool:
    return mod == "blend.cli" or mod.startswith("blend.cli.")


def test_the_graph_sees_the_whole_tree():
    graph = import_graph()
    assert {"blend.cli.stack", "blend.workflows.compare", "blend.compare._engine",
            "oof_store.importing", "base_models.cli"} <= set(graph)
    assert "blend.workflows.compare" in graph["blend.cli.compare"]


def test_no_library_module_imports_the_cli():
    graph = import_graph()
    bad = {m: sorted(e for e in edges if _is_cli(e))
           for m, edges in graph.items() if not _is_cli(m)}
    bad = {m: e for m, e in bad.items() if e}
    assert not bad, f"library modules that import blend.cli (move the code below it): {bad}"


def test_no_import_cycle():
    cycles = _cycles(import_graph())
    assert not cycles, f"import cycles (each list imports itself round a circle): {cycles}"


@pytest.mark.parametrize("planted", ["library imports cli", "cycle"])
def test_the_checks_see_a_planted_violation(planted):
    graph = {m: set(e) for m, e in import_graph().items()}
    if planted == "library imports cli":
        graph["blend.workflows.compare"].add("blend.cli.compare")
        assert any(_is_cli(e) for e in graph["blend.workflows.compare"])
        assert _cycles(graph)  # cli.compare imports workflows.compare: also a circle
    else:
        graph["blend.metrics"].add("blend.workflows.report")
        assert any("blend.metrics" in c for c in _cycles(graph))
