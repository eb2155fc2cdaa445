"""Pure-numpy twins of the C++ kernels: same maths and same signatures, readable and slow.

``backend="reference"`` on any model runs these instead of ``mfkit._core``; the tests check that
both backends agree numerically.
"""
from .als import als_half_sweep, als_loss, gram

__all__ = ["als_half_sweep", "als_loss", "gram"]
