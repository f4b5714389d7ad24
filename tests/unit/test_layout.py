"""The dependency rule of docs/architecture.md, checked on the code's own imports.

Every import statement of the shipped packages is read with `ast` (nothing is imported), so a
new module that breaks the rule fails here, not in a reviewer's head.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "schemas",
    "pipeline_runtime",
    "producers",
    "stream_processors",
    "sinks",
    "interaction_pipeline",
)
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "pipeline_runtime": set(),
    "producers": {"schemas", "pipeline_runtime"},
    "stream_processors": {"schemas", "pipeline_runtime"},
    "sinks": {"schemas", "pipeline_runtime"},
    "interaction_pipeline": set(PACKAGES),
}
"""Which top-level packages each one may import (besides itself)."""


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(name: str, path: Path) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module
            # `from pkg import sub` imports a submodule when it is one.
            for alias in node.names:
                yield f"{module}.{alias.name}"


def _project(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


GRAPH: dict[str, set[str]] = {
    name: {m for m in _imports(name, path) if _project(m)} for name, path in _modules()
}
KNOWN = set(GRAPH)


def _resolve(module: str) -> str | None:
    """The known module an import names (a name inside a module resolves to the module)."""
    while module and module not in KNOWN:
        module = module.rpartition(".")[0]
    return module or None


def test_packages_import_only_what_the_rule_allows() -> None:
    broken = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if (top := target.split(".")[0]) != name.split(".")[0]
        and top not in ALLOWED[name.split(".")[0]]
    ]
    assert broken == []


def test_no_private_module_is_imported_from_another_package() -> None:
    broken = []
    for name, targets in GRAPH.items():
        for target in targets:
            resolved = _resolve(target)
            if resolved is None:
                continue
            parts = resolved.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])
            if not (name == owner or name.startswith(owner + ".")):
                broken.append(f"{name} imports {resolved}")
    assert broken == []


def _unit(module: str) -> str:
    """Top-level packages, and the subpackages/modules of interaction_pipeline, as units."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "interaction_pipeline" else parts[0]


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, targets in GRAPH.items():
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and _unit(resolved) != _unit(name):
                edges[_unit(name)].add(_unit(resolved))
    # The root package's __init__ only loads its submodules lazily; it is no unit of its own.
    edges.pop("interaction_pipeline", None)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_nothing_imports_the_cli() -> None:
    importers = sorted(
        name
        for name, targets in GRAPH.items()
        if not name.startswith("interaction_pipeline.cli")
        and any(t.startswith("interaction_pipeline.cli") for t in targets)
    )
    assert importers == []
