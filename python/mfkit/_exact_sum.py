"""The exact sum of floating-point values, whatever their order or grouping.

ExplicitMF's global mean is the correctly rounded mean of the ratings: a fit by blocks on a
cluster (``mfkit.distributed``) adds the blocks' exact sums and gets the very same number as the
single-machine fit, which a floating-point sum (rounded differently for every grouping) would
not give.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

# A float64 is m · 2^(e - 53) with m an integer below 2^53, split into m = hi · 2^27 + lo
# (|hi| < 2^26, 0 <= lo < 2^27). Bins of at most 2^25 values keep float64 bin sums of hi and lo
# (|sum| < 2^52) exact.
_SPLIT = 27
_CHUNK = 1 << 25


def exact_sum(values: np.ndarray) -> Fraction:
    """``Σ values`` exactly (finite values of any float dtype)."""
    total = Fraction(0)
    values = np.asarray(values, dtype=np.float64).ravel()
    for start in range(0, len(values), _CHUNK):
        mantissa, exponent = np.frexp(values[start:start + _CHUNK])
        integer = (mantissa * 2.0**53).astype(np.int64)
        high = integer >> _SPLIT
        low = integer - (high << _SPLIT)
        lowest = int(exponent.min())
        bins = exponent - lowest
        high_sums = np.bincount(bins, weights=high.astype(np.float64))
        low_sums = np.bincount(bins, weights=low.astype(np.float64))
        for shift in np.flatnonzero((high_sums != 0) | (low_sums != 0)):
            scaled = (int(high_sums[shift]) << _SPLIT) + int(low_sums[shift])
            if scaled:
                total += Fraction(scaled) * Fraction(2) ** int(shift + lowest - 53)
    return total


def exact_mean(values: np.ndarray) -> float:
    """The mean of ``values``, correctly rounded to float64 (``ValueError`` when empty)."""
    if len(values) == 0:
        raise ValueError("the mean of no values")
    return float(exact_sum(values) / len(values))
