"""Initial factor matrices, drawn without a full-size float64 temporary."""
from __future__ import annotations

import numpy as np

# Rows drawn at a time: about 8 MiB of float64 scratch (at least one row).
_CHUNK_VALUES = 2**20


def normal_factors(rng: np.random.Generator, std: float, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (rows x k, C-contiguous, float32 or float64) with ``std`` times standard
    normal draws, and return it.

    Bitwise equal to ``(rng.standard_normal(out.shape) * std).astype(out.dtype)`` and leaves
    ``rng`` in the same state: the float64 draws come in row chunks (the Generator's stream does
    not depend on how it is split), each scaled in float64 and rounded once into ``out``.
    """
    rows, columns = out.shape
    step = max(1, _CHUNK_VALUES // max(columns, 1))
    scratch = np.empty((min(step, rows), columns))
    for start in range(0, rows, step):
        chunk = scratch[:min(step, rows - start)]
        rng.standard_normal(out=chunk)
        chunk *= std
        out[start:start + len(chunk)] = chunk
    return out
