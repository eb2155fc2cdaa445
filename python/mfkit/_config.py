"""``mfkit.show_config()``: what this installation of mfkit is and will use."""
from __future__ import annotations

import platform
import sys

import numpy
import scipy
from threadpoolctl import threadpool_info

from . import _core, _simd
from ._threads import resolve_num_threads
from ._version import __version__


def config() -> dict:
    """The facts :func:`show_config` prints, as a dict (for bug reports and tests)."""
    return {
        "mfkit": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "compiler": _core.compiler,
        "native_build": _core.native_build,
        "openmp": _core.has_openmp,
        "openmp_version": _core.openmp_version,
        "threads": resolve_num_threads(0),
        "simd_level": _simd.level(),
        "simd_compiled": _simd.compiled_levels(),
        "simd_supported": _simd.supported_levels(),
        "blas": _blas_libraries(),
    }


def _blas_libraries() -> list[str]:
    """BLAS/OpenMP libraries loaded in this process, as threadpoolctl sees them."""
    return [f"{info.get('internal_api')} {info.get('version')} "
            f"({info.get('num_threads')} threads, {info.get('filepath')})"
            for info in threadpool_info()]


def show_config(file=None) -> None:
    """Print version, compiler, OpenMP and thread count, SIMD level and the BLAS libraries seen.

    ``file`` defaults to ``sys.stdout``. The thread count is what ``num_threads=0`` resolves to
    (``OMP_NUM_THREADS`` or the cores this process may use).
    """
    facts = config()
    openmp = (f"on (OpenMP {facts['openmp_version']})" if facts["openmp"] else "off (serial)")
    build = "native (-march=native)" if facts["native_build"] else "portable"
    lines = [
        f"mfkit {facts['mfkit']}",
        f"python {facts['python']} on {facts['platform']}",
        f"numpy {facts['numpy']}, scipy {facts['scipy']}",
        f"compiler: {facts['compiler']}, {build} build",
        f"openmp: {openmp}, threads used by num_threads=0: {facts['threads']}",
        f"simd: {facts['simd_level']} in use (compiled: {', '.join(facts['simd_compiled'])}; "
        f"this CPU supports: {', '.join(facts['simd_supported'])}; override with MFKIT_SIMD)",
        "blas / threadpools:",
        *(f"  {line}" for line in facts["blas"] or ["(none loaded)"]),
    ]
    print("\n".join(lines), file=file or sys.stdout)
