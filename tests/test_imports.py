"""The package's import structure: every module imports as a module, no import circles,
and every import deferred into a function says why (one comment).

The graph is read statically (AST) from ``hades_zoo/`` and ``distill/``, deferred imports
included: an import moved into a function to dodge a circle is still a circle here. Imports
under ``if TYPE_CHECKING:`` (annotations only) never run and are left out.
"""

import ast
import importlib
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hades_zoo", "distill")


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()
IMPORTABLE = sorted(m for m in MODULES if not m.endswith("__main__"))  # __main__ runs the CLI


def _type_checking_only(tree) -> set[int]:
    """Imports under ``if TYPE_CHECKING:``: annotations only, never executed."""
    return {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body for n in ast.walk(stmt)}


def _imports(name: str, path: Path):
    """(target module, line, deferred) for each first-party import of a module that runs."""
    tree = ast.parse(path.read_text())
    deferred = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    typing_only = _type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            if t.split(".")[0] in PACKAGES and t in MODULES and t != name:
                yield t, node.lineno, id(node) in deferred


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    edges = {m: {t for t, _, _ in _imports(m, p)} for m, p in MODULES.items()}
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
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

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles() == []


def test_deferred_imports_say_why():
    """An import inside a function (an optional dependency, or a heavy one kept off the
    import path) carries a comment on its line or on the line above its group."""
    missing = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                i = node.lineno - 1
                while i > 0 and lines[i - 1].strip().startswith(("import ", "from ")):
                    i -= 1  # the first import of the group
                if "#" not in lines[node.lineno - 1] and not lines[i - 1].strip().startswith("#") and "#" not in lines[i]:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not missing, "deferred imports without a comment saying why:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", IMPORTABLE)
def test_import_gives_a_module(name):
    """``import hades_zoo.x`` then ``hades_zoo.x`` is the module, never a function rebound over it."""
    module = importlib.import_module(name)
    assert isinstance(module, types.ModuleType)
    parent, _, leaf = name.rpartition(".")
    if parent:
        assert getattr(importlib.import_module(parent), leaf) is module, f"{parent}.{leaf} is not the module {name}"
