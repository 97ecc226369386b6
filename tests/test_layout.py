"""The package's layout holds: arc_trm's subpackages in data-flow order, none importing from a later one, no
import circle between modules, and a top level that is only the package face."""

from __future__ import annotations

import ast
from pathlib import Path

import arc_trm

PACKAGE = Path(arc_trm.__file__).resolve().parent
# The order data flows through the package (README's "How it works"); a module may import from its own
# subpackage and from earlier ones only.
LAYERS = ["core", "data", "model", "ttt", "solve", "eval", "train", "kaggle"]


def modules() -> dict[str, Path]:
    """Every module of arc_trm by dotted name (packages by their __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The arc_trm modules a file imports (`from arc_trm.x import y` counts arc_trm.x.y when that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    known, names = modules(), set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("arc_trm"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                names.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("arc_trm")}
    return names


def layer(name: str) -> int | None:
    parts = name.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_top_level_is_only_the_package_face():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules beside arc_trm/__init__.py: {loose}"
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(LAYERS + ["assets"])


def test_no_subpackage_imports_a_later_one():
    upward = []
    for name, path in modules().items():
        mine = layer(name)
        if mine is None:
            continue
        for target in imports(path):
            theirs = layer(target)
            if theirs is not None and theirs > mine:
                upward.append(f"{name} imports {target}")
    assert upward == [], "\n".join(upward)


def test_no_import_circle_between_modules():
    """Module-level imports only (an import inside a function runs later and cannot deadlock loading)."""
    graph = {name: imports(path, top_level_only=True) for name, path in modules().items()}
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for target in graph.get(node, ()):
            if target in path:
                circles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in done:
                visit(target, path + [target])
        done.add(node)

    done: set[str] = set()
    for start in graph:
        visit(start, [start])
    assert circles == [], "\n".join(sorted(set(circles)))


def test_the_checks_see_imports():
    """The walker finds what a known module imports, so an empty answer above means no offence."""
    found = imports(PACKAGE / "solve" / "task.py")
    assert {"arc_trm.ttt.trainer", "arc_trm.solve.config", "arc_trm.core.tasks"} <= found
