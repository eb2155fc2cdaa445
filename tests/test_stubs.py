"""The type stubs of mfkit._core (python/mfkit/_core.pyi) match the compiled module.

Every kernel of every SIMD level must appear in the stub's ``Kernels`` protocol with the same
parameter names, in order, and nothing else. Regenerate the stub after changing a binding with

    python tests/test_stubs.py > python/mfkit/_core.pyi
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import mfkit
from mfkit import _core, _simd

HEADER = '''"""Type stubs for mfkit._core, the compiled kernels (written by tests/test_stubs.py)."""
from typing import Any, Protocol

from numpy.typing import NDArray

has_openmp: bool
openmp_version: int
compiler: str
native_build: bool
levels: list[tuple[str, bool]]

class NumericalError(ArithmeticError): ...

class Kernels(Protocol):
    """The functions of one SIMD-level submodule (all levels are identical)."""
'''


def split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def python_type(annotation: str) -> str:
    optional = annotation.endswith("| None") or annotation.startswith("typing.Optional")
    if "numpy" in annotation:
        base = "NDArray[Any]"
    elif "Float" in annotation:
        base = "float"
    elif "Int" in annotation:
        base = "int"
    elif annotation.replace(" | None", "") in ("str", "bool", "None", "float", "int"):
        base = annotation.replace(" | None", "")
    elif annotation.startswith("dict"):
        base = "dict[str, Any]"
    else:  # tuple, object
        base = "Any"
    return f"{base} | None" if optional and base != "None" else base


def signatures(module) -> dict[str, tuple[list[tuple[str, str]], str, str]]:
    """name -> ([(parameter, type)], return type, summary) from pybind11's docstrings."""
    found = {}
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        doc = getattr(module, name).__doc__
        match = re.match(rf"{name}\((.*)\) -> (.*)", doc.splitlines()[0])
        params = [(p.split(":", 1)[0].strip(), python_type(p.split(":", 1)[1].strip()))
                  for p in split_top_level(match.group(1))]
        summary = " ".join(doc.split("\n\n", 1)[1].split()) if "\n\n" in doc else ""
        found[name] = (params, python_type(match.group(2).strip()), summary)
    return found


def generate() -> str:
    lines = [HEADER]
    for name, (params, returns, summary) in signatures(_core.baseline).items():
        arguments = ", ".join(["self", *(f"{p}: {t}" for p, t in params)])
        lines.append(f"    def {name}({arguments}) -> {returns}:")
        lines.append(f'        """{summary}"""' if summary else "        ...")
    lines.append("")
    lines += [f"{level}: Kernels" for level in ("baseline", "avx2", "avx512")]
    return "\n".join(lines) + "\n"


def stub_functions() -> dict[str, list[str]]:
    stub = Path(mfkit.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    kernels = next(node for node in tree.body
                   if isinstance(node, ast.ClassDef) and node.name == "Kernels")
    return {node.name: [arg.arg for arg in node.args.args[1:]]
            for node in kernels.body if isinstance(node, ast.FunctionDef)}


def test_stub_is_installed_with_py_typed():
    package = Path(mfkit.__file__).parent
    assert (package / "_core.pyi").is_file()
    assert (package / "py.typed").is_file()


def test_stub_matches_every_level():
    stubbed = stub_functions()
    for level in _simd.compiled_levels():
        compiled = {name: [p for p, _ in params]
                    for name, (params, _, _) in signatures(getattr(_core, level)).items()}
        assert compiled == stubbed, f"python/mfkit/_core.pyi is out of date for {level}"


if __name__ == "__main__":
    print(generate(), end="")
