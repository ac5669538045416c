"""Imports flow one way: functions -> layers -> models -> trainer -> command line.

Every import statement of every module is read with `ast`, those inside functions too
(an import moved into a function to dodge a circle is still a circle: it only fails
later, and at a less predictable moment). The test fails on a cycle, naming it.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph(root, package="chainrule"):
    """module -> {modules of the package it imports}, from every import statement."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    # `from . import compose` imports a module; `from .x import f`, x.
                    targets.add(full if full in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph):
    """One cycle as a list [a, b, ..., a], or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path)
                if found:
                    return found
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_module_imports_itself_round_a_circle():
    cycle = find_cycle(import_graph(SRC))
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# The order the library is layered in: a module may import only from its own rank or
# below. Modules not named here are checked for circles only.
RANKS = [
    ("functions", "checks", "registry", "initializers", "files"),
    ("graph", "layers", "gradient", "special", "clipping", "residual", "time_layers",
     "transformer"),
    ("compose", "generation"),
    ("models",),
    ("trainer", "callbacks", "distributed"),
    ("cli",),
]


def test_imports_flow_from_functions_to_the_command_line():
    rank = {f"chainrule.{name}": level for level, names in enumerate(RANKS) for name in names}
    graph = import_graph(SRC)
    wrong = []
    for module, targets in graph.items():
        top = ".".join(module.split(".")[:2])
        if top not in rank:
            continue
        for target in targets:
            target_top = ".".join(target.split(".")[:2])
            if rank.get(target_top, -1) > rank[top]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports against the flow: " + "; ".join(sorted(wrong))


@pytest.mark.parametrize("files,expected", [
    # A circle through an import inside a function, as cli <-> viz_cli was.
    ({"a.py": "from . import b\n", "b.py": "def f():\n    from .a import g\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
    # Three modules round, one import deferred, as trace -> display -> draw -> trace was.
    ({"trace.py": "def r():\n    from .display import s\n",
      "display.py": "from . import draw\n", "draw.py": "from .trace import Leaf\n"},
     ["pkg.display", "pkg.draw", "pkg.trace", "pkg.display"]),
    # A subpackage reaching up, as checkpoint -> trainer -> checkpoint would.
    ({"sub/__init__.py": "", "sub/x.py": "from ..y import z\n", "y.py": "import pkg.sub.x\n"},
     ["pkg.sub.x", "pkg.y", "pkg.sub.x"]),
])
def test_the_check_finds_circles(tmp_path, files, expected):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert find_cycle(import_graph(tmp_path, "pkg")) == expected
