"""Runtime SIMD dispatch: which compiled copy of the kernels runs.

The extension holds the kernels once per instruction-set level (``mfkit._core.baseline``,
``.avx2``, ``.avx512`` on x86-64; only ``baseline`` elsewhere or in a ``-march=native`` build).
At import the best level this CPU supports is chosen; the environment variable ``MFKIT_SIMD``
(``baseline``, ``avx2``, ``avx512`` or ``auto``) overrides that, e.g. to test or compare levels.
All levels compute the same results up to floating-point rounding (FMA contraction and vector
width change the order of operations); within one level results stay independent of the thread
count.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from types import ModuleType

from . import _core

ENVIRONMENT_VARIABLE = "MFKIT_SIMD"


def compiled_levels() -> list[str]:
    """Every level this build contains, most portable first."""
    return [name for name, _ in _core.levels]


def supported_levels() -> list[str]:
    """The compiled levels this CPU can run, most portable first."""
    return [name for name, supported in _core.levels if supported]


def _level_from_environment() -> str:
    best = supported_levels()[-1]
    requested = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if requested in ("", "auto"):
        return best
    if requested not in compiled_levels():
        warnings.warn(f"{ENVIRONMENT_VARIABLE}={requested!r} is not one of this build's levels "
                      f"{compiled_levels()} (or 'auto'); using {best!r}", RuntimeWarning,
                      stacklevel=3)
        return best
    if requested not in supported_levels():
        warnings.warn(f"{ENVIRONMENT_VARIABLE}={requested!r}: this CPU does not support it; "
                      f"using {best!r}", RuntimeWarning, stacklevel=3)
        return best
    return requested


_active_name = _level_from_environment()
_active: ModuleType = getattr(_core, _active_name)


def level() -> str:
    """The level whose kernels run now."""
    return _active_name


def kernels() -> ModuleType:
    """The submodule of ``mfkit._core`` holding the active level's kernels."""
    return _active


def set_level(name: str) -> None:
    """Switch every later C++ call to the kernels of level ``name`` (for tests and benchmarks)."""
    global _active, _active_name
    if name not in supported_levels():
        raise ValueError(f"level must be one of the levels this CPU supports "
                         f"{supported_levels()}, got {name!r}")
    _active, _active_name = getattr(_core, name), name


@contextlib.contextmanager
def use_level(name: str) -> Iterator[None]:
    """Run the ``with`` block on level ``name``, then restore the previous level."""
    previous = _active_name
    set_level(name)
    try:
        yield
    finally:
        set_level(previous)
