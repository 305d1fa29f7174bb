"""The shape of the library, read from its source: no import cycles, one seam to the sandbox.

Every import counts, function bodies included: a cycle hidden in a function-local import
is still a cycle.  A submodule's imports of its own parent packages are not edges (Python
loads a package before its submodules), and `from pkg import sub` is an edge to `pkg.sub`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "mpc_lib"
# The one place that decides live or sandbox, and the command line (`mpc sandbox serve`).
MAY_IMPORT_SANDBOX = ("mpc_lib.upstreams", "mpc_lib.cli")
# Imported inside functions on purpose: optional or heavy, loaded only when used.  A local
# import of anything else hides a dependency (or a cycle) and is refused.
LAZY_MARKERS = ("only", "optional", "heavy", "loads", "when", "lazily", "on first use")


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The mpc_lib modules one import statement loads."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            is_package = MODULES[module].name == "__init__.py"
            base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        submodules = [f"{origin}.{alias.name}" for alias in node.names]
        names = [name for name in submodules if name in MODULES]
        if len(names) < len(submodules):
            names.append(origin)
    targets = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module and not module.startswith(name + "."):
            targets.append(name)
    return targets


def _imports(module: str) -> list[tuple[str, ast.Import | ast.ImportFrom, bool]]:
    """(target, statement, inside a function) for every mpc_lib import in `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, child, local) for target in _targets(module, child))
            inner = local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            visit(child, inner)

    visit(tree, False)
    return found


GRAPH = {module: {target for target, _, _ in _imports(module)} for module in MODULES}


def _cycle() -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := walk(target)):
                return found
        state[module] = 2
        stack.pop()
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := walk(module)):
            return found
    return None


def test_the_reader_sees_every_module() -> None:
    assert {"mpc_lib", "mpc_lib.upstreams", "mpc_lib.cli.sandbox", "mpc_lib.sandbox"} <= set(
        MODULES
    )
    assert "mpc_lib.catalog" in GRAPH["mpc_lib.catalog.sync"] or GRAPH["mpc_lib.catalog.sync"]


def test_no_import_cycle_even_through_function_local_imports() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_only_the_seam_and_the_cli_import_the_sandbox() -> None:
    importers = sorted(
        module
        for module, targets in GRAPH.items()
        if any(t == "mpc_lib.sandbox" or t.startswith("mpc_lib.sandbox.") for t in targets)
        and not module.startswith("mpc_lib.sandbox")
    )
    allowed = [m for m in importers if m.startswith(MAY_IMPORT_SANDBOX)]
    assert importers == allowed, f"outside the seam: {sorted(set(importers) - set(allowed))}"
    assert "mpc_lib.upstreams" in importers


def test_the_sandbox_is_a_leaf() -> None:
    """Nothing in the sandbox reaches back into the library's domain modules."""
    for module, targets in GRAPH.items():
        if module.startswith("mpc_lib.sandbox"):
            outside = {t for t in targets if not t.startswith("mpc_lib.sandbox")}
            assert outside <= {"mpc_lib.errors", "mpc_lib.http", "mpc_lib.storage"}, module


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("mpc_lib.cli")))
def test_function_local_imports_say_why(module: str) -> None:
    """Outside the CLI (which loads each command's body on use), a local import is for an
    optional or heavy dependency, and a comment on its line or the line above says so."""
    lines = MODULES[module].read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    silent = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for group in _import_groups(function):
            # a comment on the group's lines, or the two lines above it, says why
            near = " ".join(lines[max(0, group[0].lineno - 3) : group[-1].end_lineno]).lower()
            if "#" not in near or not any(word in near for word in LAZY_MARKERS):
                silent.append(f"{MODULES[module].name}:{group[0].lineno}")
    assert silent == [], f"local imports without a reason: {silent}"


def _import_groups(function: ast.AST) -> list[list[ast.stmt]]:
    """Runs of adjacent import statements anywhere in a function's body."""
    groups: list[list[ast.stmt]] = []
    for node in ast.walk(function):
        for field in ("body", "orelse", "finalbody", "handlers"):
            run: list[ast.stmt] = []
            statements = getattr(node, field, None)
            for statement in statements if isinstance(statements, list) else []:
                if isinstance(statement, (ast.Import, ast.ImportFrom)):
                    run.append(statement)
                    continue
                if run:
                    groups.append(run)
                run = []
            if run:
                groups.append(run)
    return groups
