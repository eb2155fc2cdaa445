"""Magnitude limits: values too large for the arithmetic are rejected before fitting with a
ValueError that names the argument, the magnitude and the remedy, and no fit or fold-in returns
non-finite factors (README, "Numeric limits")."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit.models import als, nmf

F32_MAX = float(np.finfo(np.float32).max)


def synthetic(huge=None, scale_to=None):
    """Seeded implicit data; ``huge`` replaces one stored value, ``scale_to`` scales them all
    so that the largest is that."""
    matrix = sp.csr_matrix(mfkit.datasets.synthetic(300, 200, 0.05, seed=0).astype(np.float64))
    if huge is not None:
        matrix.data[len(matrix.data) // 2] = huge
    if scale_to is not None:
        matrix.data *= scale_to / matrix.data.max()
    return matrix


def huge_row(value):
    """One row of interactions with a few items, one of them ``value``."""
    return sp.csr_matrix((np.array([1.0, value, 3.0]), np.array([2, 5, 9]), np.array([0, 3])),
                         shape=(1, 200))


def fit(cls, matrix, **params):
    return cls(random_state=0, num_threads=1, **params).fit(matrix, show_progress=False)


def assert_finite(model):
    for name in model._fitted_arrays:
        value = getattr(model, name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.isfinite(value).all(), name


# ------------------------------------------------------------------------------------ the limits
def test_limits_follow_from_the_dtype():
    for dtype in (np.float32, np.float64):
        largest = float(np.finfo(dtype).max)
        assert als.confidence_limit(dtype, "cg") == pytest.approx(np.sqrt(largest))
        assert als.confidence_limit(dtype, "cholesky") == largest
    assert nmf.value_limit(np.float32) == pytest.approx(np.sqrt(F32_MAX))
    assert nmf.value_limit(np.float64) == pytest.approx(np.finfo(np.float64).max ** 0.25)


# ------------------------------------------------------------------------------------------- ALS
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("exponent", [8, 12, 13, 14, 15, 16, 20, 28, 30, 38])
def test_als_cg_never_returns_non_finite_factors(dtype, exponent):
    """One huge value: today's float32 CG returned all-NaN factors from 1e13 on."""
    try:
        model = fit(mfkit.ALS, synthetic(huge=10.0**exponent), dtype=dtype)
    except ValueError as error:
        assert "user_items" in str(error) and "log" in str(error) and "alpha" in str(error)
        assert 2 * 10.0**exponent > als.confidence_limit(dtype, "cg")
        return
    except mfkit.NumericalError as error:
        assert "iteration" in str(error) and "confidence" in str(error)
        assert "float64" in str(error) or dtype == np.float64
        assert "log-scale" in str(error) and "lower alpha" in str(error)
        return
    assert_finite(model)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_als_rejects_confidences_beyond_the_limit(solver):
    limit = als.confidence_limit(np.float32, solver)
    value = min(limit, 0.75 * F32_MAX)  # confidence 1 + 2·value > limit
    with pytest.raises(ValueError, match=r"user_items holds a value of magnitude .*alpha=2.0.*"
                                         r"log-scale.*lower alpha.*float64"):
        fit(mfkit.ALS, synthetic(huge=value), solver=solver)
    # float64 data beyond float32's range: infinite once in the model dtype
    with pytest.raises(ValueError, match="magnitude inf"):
        fit(mfkit.ALS, synthetic(huge=1e39), solver=solver, alpha=0.0)


def test_als_cholesky_blames_the_value_scale():
    """Today: 'increase regularization', although the cause is the value scale."""
    with pytest.raises(mfkit.NumericalError, match=r"iteration \d+; the largest confidence .*"
                                                   r"log-scale.*lower alpha.*float64"):
        fit(mfkit.ALS, synthetic(scale_to=1e36), solver="cholesky")


def test_als_singular_system_still_blames_regularization():
    with pytest.raises(mfkit.NumericalError, match=r"iteration 0; raise regularization"):
        fit(mfkit.ALS, mfkit.datasets.synthetic(20, 3, 0.6, seed=0), factors=10,
            regularization=0.0, solver="cholesky")


def test_als_serving_rows_obey_the_limit():
    model = fit(mfkit.ALS, synthetic(), iterations=2)
    row = huge_row(1e30)
    with pytest.raises(ValueError, match="user_items holds a value of magnitude"):
        model.recommend(0, row, recalculate_user=True)
    with pytest.raises(ValueError, match="user_items holds a value of magnitude"):
        model.partial_fit_users([0], row)
    with pytest.raises(ValueError, match="user_items holds a value of magnitude"):
        model.explain(0, row, 1)


# ------------------------------------------------------------------------------------------- BPR
def test_bpr_ignores_magnitudes():
    """Only the sign of a value matters: a huge (even an overflowing) value fits the same."""
    ones = synthetic()
    ones.data[:] = 1.0
    huge = ones.copy()
    huge.data[::7] = 1e39  # infinite in float32
    a = fit(mfkit.BPR, ones, factors=8, iterations=5)
    b = fit(mfkit.BPR, huge, factors=8, iterations=5)
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)


# ------------------------------------------------------------------------------------ ExplicitMF
@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_explicit_rejects_ratings_beyond_the_limit(solver):
    with pytest.raises(ValueError, match="ratings holds a value of magnitude 1e\\+20.*scale the "
                                         "ratings down.*float64"):
        fit(mfkit.ExplicitMF, synthetic(huge=1e20), solver=solver)


def test_explicit_als_blames_the_rating_scale():
    with pytest.raises(mfkit.NumericalError, match=r"iteration \d+; raise regularization .*the "
                                                   r"largest \|rating\| is 1e\+05"):
        fit(mfkit.ExplicitMF, synthetic(scale_to=1e5), solver="als")


@pytest.mark.parametrize("solver", ["sgd", "als"])
@pytest.mark.parametrize("exponent", [4, 5, 10, 19])
def test_explicit_never_returns_non_finite_factors(solver, exponent):
    try:
        model = fit(mfkit.ExplicitMF, synthetic(huge=10.0**exponent), solver=solver)
    except mfkit.NumericalError as error:
        assert "iteration" in str(error) and "largest |rating|" in str(error)
        return
    assert_finite(model)


# ------------------------------------------------------------------------------------------- NMF
@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_nmf_rejects_values_beyond_the_limit(solver):
    """Today: silent NaN factors (cd) or a TypeError (mu) from 1e20 in float32."""
    with pytest.raises(ValueError, match="user_items holds a value of magnitude 1e\\+20.*"
                                         "log1p.*float64"):
        fit(mfkit.NMF, synthetic(huge=1e20), n_components=8, solver=solver)
    with pytest.raises(ValueError, match="user_items holds a value of magnitude 1e\\+80"):
        fit(mfkit.NMF, synthetic(huge=1e80), n_components=8, solver=solver, dtype=np.float64)
    model = fit(mfkit.NMF, synthetic(huge=1e19), n_components=8, solver=solver, max_iter=20,
                tol=0)
    assert_finite(model)
    with pytest.raises(ValueError, match="X holds a value of magnitude"):
        model.transform(huge_row(1e20))


def test_nmf_transform_checks_the_solved_rows():
    model = fit(mfkit.NMF, synthetic(), n_components=8, max_iter=20, tol=0)
    solve = model._solve_rows

    def spoiled(*args):
        solved = solve(*args)
        solved[0, 0] = np.inf
        return solved

    model._solve_rows = spoiled
    with pytest.raises(mfkit.NumericalError, match="W are not finite for the rows of X"):
        model.transform(synthetic()[[3]])
