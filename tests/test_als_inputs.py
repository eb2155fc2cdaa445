"""Inputs ALS must accept, and inputs it must reject, beyond what every model accepts and rejects
(test_contract.py): negative entries, degenerate shapes, singular systems, loss, callback."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit


def fit(matrix, **params):
    params.setdefault("factors", 4)
    params.setdefault("iterations", 3)
    params.setdefault("random_state", 0)
    return mfkit.ALS(**params).fit(matrix, show_progress=False)


def assert_fitted(model, shape, dtype):
    n_users, n_items = shape
    k = model.factors
    assert model.user_factors.shape == (n_users, k)
    assert model.item_factors.shape == (n_items, k)
    assert model.user_factors.dtype == np.dtype(dtype)
    assert model.item_factors.dtype == np.dtype(dtype)
    assert np.all(np.isfinite(model.user_factors))
    assert np.all(np.isfinite(model.item_factors))


# ------------------------------------------------------------------------- accepted inputs
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_negative_entries_and_empty_rows(small_matrix, dtype, solver):
    assert (small_matrix.data < 0).any()
    empty_users = np.flatnonzero(small_matrix.getnnz(axis=1) == 0)
    empty_items = np.flatnonzero(small_matrix.getnnz(axis=0) == 0)
    assert len(empty_users) and len(empty_items)
    model = fit(small_matrix, dtype=dtype, solver=solver)
    assert_fitted(model, small_matrix.shape, dtype)
    if solver == "cholesky":
        assert np.all(model.user_factors[empty_users] == 0)
        assert np.all(model.item_factors[empty_items] == 0)
    # ... every other row that has a positive entry gets a non-zero factor
    has_positive = (small_matrix > 0).getnnz(axis=1) > 0
    assert np.all(np.any(model.user_factors[has_positive] != 0, axis=1))


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_single_user(solver):
    matrix = sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0, 3.0, 0.0, -1.0]]))
    model = fit(matrix, solver=solver, dtype=np.float64)
    assert_fitted(model, (1, 7), np.float64)
    scores = model.item_factors @ model.user_factors[0]
    # Liked items score above unseen and disliked ones.
    assert scores[[0, 2, 4]].min() > scores[[1, 3, 5, 6]].max()


def test_single_item():
    matrix = sp.csr_matrix(np.array([[1.0], [0.0], [2.0]]))
    assert_fitted(fit(matrix, factors=2), (3, 1), np.float32)


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_more_factors_than_items(solver, dtype):
    matrix = mfkit.datasets.synthetic(30, 6, 0.3, seed=1)
    model = fit(matrix, factors=10, solver=solver, dtype=dtype, calculate_training_loss=True)
    assert_fitted(model, (30, 6), dtype)
    assert np.all(np.isfinite(model.loss_history))


def test_matrix_without_any_entry():
    model = fit(sp.csr_matrix((4, 5)), solver="cholesky")
    assert_fitted(model, (4, 5), np.float32)
    assert np.all(model.user_factors == 0) and np.all(model.item_factors == 0)


# --------------------------------------------------------------------------- rejected inputs
@pytest.fixture
def tiny():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))


def hand_built_csr(indices, shape=(2, 3)):
    """A 2 x 3 CSR with the given column indices (two entries per row)."""
    data = np.ones(4)
    indptr = np.array([0, 2, 4])
    valid = np.array([0, 1, 0, 2])
    try:
        matrix = sp.csr_matrix((data, np.asarray(indices), indptr), shape=shape)
    except ValueError:  # scipy may refuse bad indices itself: build valid, then corrupt.
        matrix = sp.csr_matrix((data, valid, indptr), shape=shape)
        matrix.indices[:] = indices
    assert list(matrix.indices) == list(indices)
    return matrix


def test_out_of_range_column_indices_rejected_by_loss(tiny):
    model = fit(tiny)
    with pytest.raises(ValueError, match="user_items"):
        model.loss(hand_built_csr([0, 1, 0, 3]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_singular_system_raises_numerical_error(dtype):
    matrix = mfkit.datasets.synthetic(20, 3, 0.6, seed=0)
    with pytest.raises(mfkit.NumericalError, match="regularization"):
        fit(matrix, factors=10, regularization=0.0, solver="cholesky", dtype=dtype)
    assert issubclass(mfkit.NumericalError, ArithmeticError)


def test_loss_shape_mismatch_rejected(tiny):
    model = fit(tiny)
    with pytest.raises(ValueError, match="user_items"):
        model.loss(tiny[:1])
    with pytest.raises(ValueError, match="user_items"):
        model.loss(sp.csr_matrix((2, 4)))


# ---------------------------------------------------------------------------------- callback
@pytest.mark.parametrize("calculate_training_loss", [False, True])
@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_callback_arguments(small_matrix, calculate_training_loss, backend):
    calls = []
    model = mfkit.ALS(factors=3, iterations=4, random_state=0, backend=backend,
                      calculate_training_loss=calculate_training_loss)
    model.fit(small_matrix, callback=lambda *args: calls.append(args), show_progress=False)
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    for iteration, elapsed, loss in calls:
        assert isinstance(iteration, int)
        assert isinstance(elapsed, float) and elapsed >= 0
        if calculate_training_loss:
            assert isinstance(loss, float) and np.isfinite(loss)
            assert loss == model.loss_history[iteration]
        else:
            assert loss is None
    assert len(model.loss_history) == (4 if calculate_training_loss else 0)


def test_callback_exception_propagates(small_matrix):
    def boom(iteration, elapsed, loss):
        if iteration == 1:
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        mfkit.ALS(factors=2, iterations=5).fit(small_matrix, callback=boom, show_progress=False)


def test_progress_bar_does_not_break_fit(small_matrix, capsys):
    model = mfkit.ALS(factors=2, iterations=2, random_state=0, calculate_training_loss=True)
    model.fit(small_matrix, show_progress=True)
    quiet = mfkit.ALS(factors=2, iterations=2, random_state=0).fit(small_matrix,
                                                                   show_progress=False)
    assert np.array_equal(model.user_factors, quiet.user_factors)


# ------------------------------------------------------------------------- parameters, state
def test_default_parameters_are_documented_values():
    params = mfkit.ALS().get_params()
    assert set(params) == {"factors", "regularization", "alpha", "iterations", "solver",
                           "cg_steps", "regularization_exponent", "dtype", "random_state",
                           "num_threads", "backend", "calculate_training_loss",
                           "regularization_scheme", "block_size", "block_sweeps"}
    assert (params["regularization_scheme"], params["block_size"], params["block_sweeps"]) == \
        ("count", 32, 1)


def test_loss_before_fit_raises_not_fitted(small_matrix):
    with pytest.raises(mfkit.NotFittedError):
        mfkit.ALS().loss(small_matrix)
    assert issubclass(mfkit.NotFittedError, ValueError)


def test_refit_replaces_factors(small_matrix):
    model = mfkit.ALS(factors=3, iterations=2, random_state=0, calculate_training_loss=True)
    model.fit(small_matrix, show_progress=False)
    first = model.user_factors.copy()
    model.set_params(factors=4).fit(small_matrix[:10], show_progress=False)
    assert model.user_factors.shape == (10, 4)
    assert len(model.loss_history) == 2
    assert first.shape == (small_matrix.shape[0], 3)
