"""The package's import structure: every module imports on its own, mfkit's modules import each
other without cycles, and functions do not hide imports.

Modules are found with pkgutil in the *installed* package and read from their installed sources.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import mfkit

# The compiled core has no Python source (and is imported by the modules that need it).
COMPILED = {"mfkit._core"}
# Importing ``python -m mfkit``'s entry module runs the command line (tested in test_cli.py).
RUNS_ON_IMPORT = {"mfkit.__main__"}

# Third-party modules a function may import itself, each for a reason:
# - pandas, sklearn: optional; never needed to import or run mfkit (sklearn only asks for
#   ``__sklearn_tags__`` once it is imported itself).
# - matplotlib, IPython: optional, only for mfkit.callbacks.LivePlot.
# - optuna: optional, only mfkit.tuning's searches need it.
# - voyager, faiss: optional, only for mfkit.ann's indexes (built or read on demand).
# The standard library, the dependencies (numpy, scipy, threadpoolctl, tqdm) and, above all,
# mfkit's own modules are imported at the top of the module: a function-level import of an mfkit
# module only hides a cycle.
LAZY_IMPORTS_ALLOWED = ("pandas", "sklearn", "matplotlib", "IPython", "optuna", "voyager",
                        "faiss")


# Optional subpackages and the third-party modules they need: left out when one is missing.
OPTIONAL = {"mfkit.distributed": ("distributed", "pyarrow")}


def installed(name: str) -> bool:
    return not any((name == package or name.startswith(package + "."))
                   and any(importlib.util.find_spec(m) is None for m in needed)
                   for package, needed in OPTIONAL.items())


NAMES = ["mfkit"] + [info.name for info in pkgutil.walk_packages(mfkit.__path__, "mfkit.")
                     if installed(info.name)]
# {module name: source path} of every Python module of the installed package.
MODULES = {name: importlib.util.find_spec(name).origin for name in NAMES if name not in COMPILED}


def source(name: str) -> str:
    with open(MODULES[name], encoding="utf-8") as file:
        return file.read()


def parse(name: str) -> ast.Module:
    return ast.parse(source(name), filename=MODULES[name])


def is_package(name: str) -> bool:
    return os.path.basename(MODULES[name]) == "__init__.py"


def imported_modules(node, module: str) -> list:
    """The modules an ``import`` / ``from ... import`` statement in ``module`` names, absolute:
    ``from . import x`` names the submodule ``x`` when there is one, else the package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    package = module if is_package(module) else module.rpartition(".")[0]
    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
        if node.level else node.module
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in NAMES else base
            for alias in node.names]


def is_type_checking(node) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): never run."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree):
    """Import statements run when the module is imported: everywhere but inside functions
    (class bodies, ``if`` and ``try`` blocks included; ``if TYPE_CHECKING:`` left out)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and not is_type_checking(node):
            pending.extend(ast.iter_child_nodes(node))


def function_level_imports(node, function=None):
    """``(function name, import statement)`` for every import inside a function body (named
    after the innermost function holding it)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from function_level_imports(child, child.name)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            if function is not None:
                yield function, child
        else:
            yield from function_level_imports(child, function)


def lazy_import_allowed(node) -> bool:
    """Whether a function may import this (see LAZY_IMPORTS_ALLOWED)."""
    def allowed(module):
        return any(module == name or module.startswith(name + ".")
                   for name in LAZY_IMPORTS_ALLOWED)

    if isinstance(node, ast.Import):
        return all(allowed(alias.name) for alias in node.names)
    return node.level == 0 and (allowed(node.module) or all(
        allowed(f"{node.module}.{alias.name}") for alias in node.names))


def import_graph() -> dict:
    """``{module: {imported mfkit module: where}}``, ``where`` the file and line of the first
    import (and the function holding it: a function-level import only defers the dependency,
    and test_functions_import_only_optional_third_party_modules forbids it for mfkit modules)."""
    graph = {}
    for name in MODULES:
        tree, edges = parse(name), graph.setdefault(name, {})
        statements = [(node, "") for node in module_level_imports(tree)]
        statements += [(node, f" in {function}()")
                       for function, node in function_level_imports(tree)]
        for node, function in sorted(statements, key=lambda pair: pair[0].lineno):
            for target in imported_modules(node, name):
                if target in MODULES and target != name:
                    edges.setdefault(target, f"{os.path.basename(MODULES[name])}:"
                                             f"{node.lineno}{function}")
    return graph


def strongly_connected_components(graph: dict) -> list:
    """Tarjan's algorithm (iterative): the components of mutually reachable modules."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def shortest_cycle(graph: dict, start: str, members: set) -> list:
    """The shortest import path from ``start`` back to itself within one component."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node]):
                if successor == start:
                    return paths[node] + [start]
                if successor in members and successor not in paths:
                    paths[successor] = paths[node] + [successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{start} is on no cycle")


def describe(graph: dict, cycle: list) -> str:
    return "\n      ".join(f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:]))


# ------------------------------------------------------------------------------------ tests
def import_alone(name: str, cwd) -> tuple:
    """``import name`` in a fresh interpreter: ``(error or None, mfkit modules then loaded)``."""
    code = (f"import sys, {name}; print(*(m for m in sys.modules if m == 'mfkit' or "
            "m.startswith('mfkit.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    if result.returncode != 0:
        return f"import {name}:\n{result.stderr.strip()}", set()
    return None, set(result.stdout.split())


def test_every_module_imports_on_its_own(tmp_path):
    """Each module first in a fresh interpreter (outside the source tree): no import works only
    because another module happened to be imported before it."""
    # ``import a.b.c`` imports ``a.b`` first; when that already brought in ``a.b.c`` it does
    # nothing more, so only the modules their package does not load need an interpreter each.
    loaded_by, failures = {}, []
    names = sorted(set(MODULES) - RUNS_ON_IMPORT, key=lambda name: name.count("."))
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for depth in range(names[-1].count(".") + 1):
            level = [name for name in names if name.count(".") == depth]
            todo = []
            for name in level:
                package = name.rpartition(".")[0]
                if package and name in loaded_by.get(package, ()):
                    loaded_by[name] = loaded_by[package]
                elif not package or package in loaded_by:
                    todo.append(name)
            for name, (error, loaded) in zip(todo, pool.map(
                    lambda name: import_alone(name, tmp_path), todo)):
                if error:
                    failures.append(error)
                else:
                    loaded_by[name] = loaded
    assert not failures, "modules that fail to import on their own:\n" + "\n".join(failures)
    assert "mfkit.models.als" in loaded_by["mfkit"]


def test_no_import_cycles_between_mfkit_modules():
    """No mfkit module depends on itself through others; each cycle is reported with its
    modules and one shortest path round it."""
    graph = import_graph()
    cycles = [component for component in strongly_connected_components(graph)
              if len(component) > 1]
    report = []
    for component in cycles:
        inside = [(a, b) for a in component for b in graph[a] if b in component]
        report.append(f"cycle among {', '.join(component)}\n  e.g.\n      "
                      + describe(graph, shortest_cycle(graph, component[0], set(component)))
                      + "\n  all imports inside it:\n      "
                      + "\n      ".join(f"{a} -> {b} ({graph[a][b]})" for a, b in inside))
    assert not cycles, "import cycles between mfkit modules:\n" + "\n".join(report)


def test_functions_import_only_optional_third_party_modules():
    found = []
    for name in sorted(MODULES):
        text = source(name)
        imports = sorted(function_level_imports(ast.parse(text)), key=lambda f: f[1].lineno)
        for function, node in imports:
            if not lazy_import_allowed(node):
                found.append(f"{name} ({os.path.basename(MODULES[name])}:{node.lineno}) in "
                             f"{function}(): {ast.get_source_segment(text, node)}")
    assert not found, "imports inside functions:\n" + "\n".join(found)
