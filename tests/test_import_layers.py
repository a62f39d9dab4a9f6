"""Arrows only go down: no module imports a layer above its own, and no imports go in a circle.

The layers of docs/architecture.md, top to bottom; a package or top-level module of
``src/tunnellab`` that is in none of them fails the test until it is placed. Every import counts:
module level, inside functions and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "tunnellab"

#: Top to bottom; a module may import its own layer (without a circle) and any layer below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "tools"),
    ("config",),
    ("advise", "continual"),
    ("pipeline", "dynamics"),
    ("tracking", "result_tables", "report"),
    ("analysis",),
    ("pretrain", "probe"),
    ("data", "models"),
    ("metrics",),
    ("instantiate", "variables", "run_identity"),
    ("atomic", "disk", "distributed", "errors", "stages", ROOT),
)

Graph = Mapping[str, set[str]]


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {module_name(p, src): p for p in sorted((src / ROOT).rglob("*.py"))}


def imported(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The package's modules that ``name`` (at ``path``) imports, wherever the import sits."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import submodule`` imports the submodule; ``from pkg import name`` pkg
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.c`` of a name inside a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    mods = modules(src)
    return {name: imported(name, path, mods) for name, path in mods.items()}


def top(module: str) -> str:
    """The package or top-level module of ``tunnellab`` a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def layer_of(layers: tuple[tuple[str, ...], ...] = LAYERS) -> dict[str, int]:
    return {unit: depth for depth, units in enumerate(layers) for unit in units}


def upward_arrows(graph: Graph, layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Every import of a module in a higher layer, as a sentence."""
    depth = layer_of(layers)
    return [
        f"{a} imports {b} ({top(b)} is above {top(a)})"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if depth[top(b)] < depth[top(a)]
    ]


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
            visit(v)
    return sorted(found)


def package_graph(graph: Graph) -> dict[str, set[str]]:
    """The graph between the layers' units (packages and top-level modules)."""
    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        out.setdefault(top(a), set()).update(top(b) for b in targets if top(b) != top(a))
    return out


# ------------------------------------------------------------------------------ the rules ---
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_has_a_layer(graph):
    placed = set(layer_of())
    assert not {top(m) for m in graph} - placed, "place it in LAYERS and docs/architecture.md"
    assert len(placed) == sum(len(units) for units in LAYERS), "a unit sits in two layers"


def test_arrows_only_go_down(graph):
    upward = upward_arrows(graph)
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_module_imports_go_in_a_circle(graph):
    assert cycles(graph) == []


def test_no_packages_import_each_other(graph):
    assert cycles(package_graph(graph)) == []


# ------------------------------------------------------------------- the checker itself ---
def test_the_checker_sees_what_it_should(tmp_path):
    files = {
        "tunnellab/__init__.py": "",
        "tunnellab/errors.py": "import tunnellab.config.schema\n",
        "tunnellab/config/__init__.py": "from tunnellab.config import schema\n",
        "tunnellab/config/schema.py": "from . import rules\n",
        "tunnellab/config/rules.py": (
            "def f():\n    from tunnellab.config.schema import X\n    import tunnellab.errors\n"
        ),
        "tunnellab/data/__init__.py": "",
        "tunnellab/data/a.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from tunnellab.models.b import B\n",
        "tunnellab/models/__init__.py": "",
        "tunnellab/models/b.py": "from ..data.a import A\nfrom tunnellab.models.b import C\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    fake = import_graph(tmp_path)
    assert fake == {
        "tunnellab": set(),
        "tunnellab.errors": {"tunnellab.config.schema"},
        "tunnellab.config": {"tunnellab.config.schema"},
        "tunnellab.config.schema": {"tunnellab.config.rules"},
        "tunnellab.config.rules": {"tunnellab.config.schema", "tunnellab.errors"},
        "tunnellab.data": set(),
        "tunnellab.data.a": {"tunnellab.models.b"},
        "tunnellab.models": set(),
        "tunnellab.models.b": {"tunnellab.data.a"},
    }
    layers = (("config",), ("data", "models"), ("errors", ROOT))
    assert upward_arrows(fake, layers) == [
        "tunnellab.errors imports tunnellab.config.schema (config is above errors)"
    ]
    assert cycles(fake) == [
        ["tunnellab.config.rules", "tunnellab.config.schema", "tunnellab.errors"],
        ["tunnellab.data.a", "tunnellab.models.b"],
    ]
    assert cycles(package_graph(fake)) == [["config", "errors"], ["data", "models"]]
