"""The package's layout rules (ARCHITECTURE.md): no import cycles, no private names across modules, imports
inside functions only for optional dependencies, long modules say why they are one module."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simcse"

OPTIONAL = {"faiss", "pyarrow", "mteb", "datasets", "peft", "matplotlib", "fastapi", "uvicorn",
            "simcse.serve.app", "simcse.serve.server"}
"""What may be imported inside a function: the optional extras, and the modules that import them at their top:
simcse.serve.app and simcse.serve.server (fastapi, uvicorn)."""

LONG = 500
LONG_MARK = "Why one module:"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def absolute(module: str, node: ast.ImportFrom, path: Path) -> str:
    """The absolute module an ``ImportFrom`` names."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def own_targets(module: str, node: ast.AST, path: Path) -> list[tuple[str, str | None]]:
    """(module, imported name) pairs of simcse's own modules that an import statement names."""
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names if a.name.split(".")[0] == "simcse"]
    if isinstance(node, ast.ImportFrom):
        target = absolute(module, node, path)
        if target.split(".")[0] != "simcse":
            return []
        out = []
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            out.append((sub, None) if sub in MODULES else (target, alias.name))
        return out
    return []


def top_level_imports(tree: ast.Module) -> list[ast.AST]:
    """Imports that run when the module is imported (module body, including if/try blocks at top level)."""
    found = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(node.orelse)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                visit(getattr(node, "finalbody", []))

    visit(tree.body)
    return found


TREES = {m: ast.parse(p.read_text(encoding="utf-8")) for m, p in MODULES.items()}


def test_the_package_has_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for module, tree in TREES.items():
        deps = set()
        for node in top_level_imports(tree):
            for target, _ in own_targets(module, node, MODULES[module]):
                if target in MODULES and target != module and not module.startswith(target + "."):
                    deps.add(target)
        graph[module] = deps
    # a package's __init__ importing its submodules is no cycle; look for cycles among the rest
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if MODULES[dep].name == "__init__.py" and node.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                walk(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_names():
    found = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            for target, name in own_targets(module, node, MODULES[module]):
                if target != module and (name or target.rsplit(".", 1)[-1]).startswith("_") and not (name or "").startswith("__"):
                    found.append(f"{module} imports {target}.{name}" if name else f"{module} imports {target}")
    assert not found, "\n".join(found)


def test_imports_inside_functions_are_optional_dependencies_only():
    found = []
    for module, tree in TREES.items():
        body_imports = set(map(id, top_level_imports(tree)))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in body_imports:
                continue
            if isinstance(node, ast.ImportFrom):
                names = [absolute(module, node, MODULES[module])]
            else:
                names = [a.name for a in node.names]
            for name in names:
                if name not in OPTIONAL and name.split(".")[0] not in OPTIONAL:
                    found.append(f"{module}:{node.lineno} imports {name} inside a function")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_long_module_says_why_it_is_one_module(module):
    source = MODULES[module].read_text(encoding="utf-8")
    if source.count("\n") <= LONG:
        return
    doc = ast.get_docstring(TREES[module]) or ""
    assert LONG_MARK in doc, (f"{MODULES[module]} has {source.count(chr(10))} lines: split it, or say in its "
                              f"docstring, after '{LONG_MARK}', why it stays one module")


def test_old_import_paths_still_give_the_moved_modules():
    import importlib

    from simcse.compat import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    from simcse import SentenceEncoder, SimCSE
    from simcse.tool import SimCSE as ToolSimCSE

    assert ToolSimCSE is SimCSE and SentenceEncoder.__module__ == "simcse.encoder"


def test_every_command_has_its_module_help_and_main():
    import importlib

    from simcse.cli import COMMANDS

    files = {p.stem for p in (PACKAGE / "cli").glob("*.py")} - {"__init__", "common"}
    assert files == set(COMMANDS), "simcse/cli/ modules and cli.COMMANDS differ"
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"simcse.cli.{name}")
        assert module.HELP == help_text and callable(module.main), name
