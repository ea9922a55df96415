"""The project's layers point one way (docs/architecture.md).

Walks the imports of every top-level package of the repository with `ast` (tests, bench and migrations aside) and
fails on a cycle between top-level packages, on an import of the project placed inside a function (the way a cycle
is hidden; config's AppConfig.ready() aside), and on the conversation core importing any layer above it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_PACKAGES = {"tests", "bench", "docs", "deploy", "static", "templates", "locale", "var", "node_modules"}
# config is the wiring: it may import every package, and Django's AppConfig.ready() is where it does so.
WIRING = "config"
# What the conversation core may import: nothing above it (docs/architecture.md).
CORE = "conversations"
CORE_MAY_IMPORT: set[str] = set()


@dataclass(frozen=True)
class ProjectImport:
    source: str  # top-level package of the importing file
    target: str  # top-level package imported
    path: str
    line: int
    in_function: bool


def top_level_packages() -> list[str]:
    return sorted(
        entry.name for entry in ROOT.iterdir()
        if entry.is_dir() and not entry.name.startswith(".") and entry.name not in NOT_PACKAGES
        and (entry / "__init__.py").exists()
    )


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _in_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return True
    return False


def project_imports(source: str, text: str, path: str, packages: set[str]) -> Iterator[ProjectImport]:
    """Imports of the project's packages in one file's text; a relative import is one of its own package."""
    tree = ast.parse(text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = [source]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            target = name.split(".")[0]
            if target in packages and not _under_type_checking(node, parents):
                yield ProjectImport(source, target, path, node.lineno, _in_function(node, parents))


def all_imports() -> list[ProjectImport]:
    packages = top_level_packages()
    found = []
    for package in packages:
        for file in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in file.parts:
                continue
            found.extend(project_imports(package, file.read_text(encoding="utf-8"),
                                         str(file.relative_to(ROOT)), set(packages)))
    return found


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def package_edges(imports: list[ProjectImport]) -> set[tuple[str, str]]:
    return {(i.source, i.target) for i in imports if WIRING not in (i.source, i.target) and i.source != i.target}


# The checks are first shown to catch what they must, on made-up code, so that a pass below means something.

def test_the_cycle_check_finds_a_cycle_through_three_packages_and_none_in_a_chain():
    assert cycles({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}) == [["a", "b", "c"]]
    assert cycles({("a", "b"), ("b", "c"), ("a", "c")}) == []


def test_the_import_walk_sees_imports_inside_functions_and_ignores_type_checking_and_relative_ones():
    text = (
        "from typing import TYPE_CHECKING\n"
        "import low.models\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from high import Thing\n"
        "def f():\n"
        "    from high.tasks import task\n"
        "    return task\n"
    )
    found = list(project_imports("low2", text, "x.py", {"low", "high", "low2"}))
    assert [(i.target, i.line, i.in_function) for i in found] == [("low", 2, False), ("low2", 3, False),
                                                                   ("high", 7, True)]


def test_no_import_cycle_between_top_level_packages():
    imports = all_imports()
    assert {i.source for i in imports} >= {"chat", "hscode", "ops"}  # the walk did see the project
    assert cycles(package_edges(imports)) == []


def test_no_project_import_inside_a_function():
    hidden = [f"{i.path}:{i.line} imports {i.target}" for i in all_imports()
              if i.in_function and i.source != WIRING]
    assert hidden == []


def test_the_conversation_core_imports_no_layer_above_it():
    upward = [f"{i.path}:{i.line} imports {i.target}" for i in all_imports()
              if i.source == CORE and i.target not in CORE_MAY_IMPORT | {CORE}]
    assert upward == []


def test_hs_analysis_and_the_data_below_the_chat_never_import_the_chat():
    # ops (health and metrics endpoints) is an edge beside chat and may read it.
    upward = [f"{i.path}:{i.line} imports {i.target}" for i in all_imports()
              if i.target == "chat" and i.source not in {WIRING, "chat", "ops"}]
    assert upward == []
