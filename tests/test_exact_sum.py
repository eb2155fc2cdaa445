"""The exact sum behind ExplicitMF's global mean: equal to the sum in rational arithmetic."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from mfkit._exact_sum import _CHUNK, exact_mean, exact_sum


def rational_sum(values) -> Fraction:
    return sum((Fraction(float(v)) for v in values), Fraction(0))


@pytest.mark.parametrize("values", [
    np.random.default_rng(0).normal(size=2000) * 1e10,
    np.random.default_rng(1).integers(1, 11, size=5000) / 2.0,  # half stars
    np.array([1e308, -1e308, 5e-324, 3.0, -0.0]),  # cancellation, a subnormal, signed zero
    np.random.default_rng(2).normal(size=3000).astype(np.float32),
    np.array([0.1] * 10),  # 0.1 is not exact in binary: the sum of 10 is not 1
])
def test_exact_sum_is_the_rational_sum(values):
    assert exact_sum(values) == rational_sum(values)
    assert exact_mean(values) == float(rational_sum(values) / len(values))


def test_the_sum_does_not_depend_on_order_or_grouping():
    values = np.random.default_rng(3).lognormal(sigma=8, size=4000)
    parts = np.array_split(np.random.default_rng(4).permutation(values), 7)
    assert sum((exact_sum(p) for p in parts), Fraction(0)) == exact_sum(values)
    assert exact_mean(values) == float(rational_sum(values) / len(values))


def test_bins_stay_exact_across_chunks():
    """More values than one chunk, all of one exponent: the bins' float64 sums stay exact."""
    values = np.full(_CHUNK + 3, 1.0 - 2.0**-53)  # the largest mantissa
    assert exact_sum(values) == Fraction(1 - Fraction(1, 2**53)) * len(values)


def test_an_empty_mean_is_refused():
    with pytest.raises(ValueError, match="no values"):
        exact_mean(np.array([]))
