"""The package's shape, checked from its imports: rooms in the order of the study, imports
running one way (down), no circles, and no module too long to read in one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "teachergrid"
# lowest first: a module may import from its own room or from the rooms below it
ROOMS = ["core", "support", "config", "screening", "training", "evaluation", "analysis", "top"]
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in ROOMS) else "top"


def imports(path: Path) -> set[str]:
    """Every teachergrid module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("teachergrid"):
                found.add(node.module)
                for alias in node.names:
                    sub = PACKAGE.parent.joinpath(*f"{node.module}.{alias.name}".split("."))
                    if sub.with_suffix(".py").exists() or sub.is_dir():
                        found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (the package uses absolute ones)")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("teachergrid")}
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_imports_run_down_the_rooms() -> None:
    upward = []
    for module, deps in graph().items():
        if room(module) == "tiny":
            continue
        for dep in deps:
            if room(dep) == "tiny":
                upward.append(f"{module} -> {dep} (the tiny world is a data source)")
            elif room(dep) != "tiny" and ROOMS.index(room(dep)) > ROOMS.index(room(module)):
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for dep in sorted(edges.get(node, ())):
            if dep != node and dep in edges and not node.startswith(dep + "."):
                visit(dep, [*path, node])
        done.add(node)

    for node in sorted(edges):
        visit(node, [])


def test_modules_are_short() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
