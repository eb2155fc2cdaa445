"""Inputs ALS must accept, and inputs it must reject with a clear error naming the argument."""
from __future__ import annotations

import contextlib

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


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("data_dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8,
                                        bool])
def test_data_dtypes(model_dtype, data_dtype):
    matrix = mfkit.datasets.synthetic(40, 25, 0.1, seed=2)
    converted = matrix.astype(data_dtype)
    model = fit(converted, dtype=model_dtype)
    assert_fitted(model, matrix.shape, model_dtype)
    # Same values give the same model whatever the storage type (bool: all ones).
    reference = matrix.astype(bool).astype(np.float64) if data_dtype is bool else matrix
    assert np.array_equal(model.user_factors, fit(reference, dtype=model_dtype).user_factors)


@pytest.mark.parametrize("dense_dtype", [np.float64, np.int64, bool])
def test_dense_numpy_input(dense_dtype):
    sparse = mfkit.datasets.synthetic(30, 20, 0.2, seed=3)
    dense = sparse.toarray().astype(dense_dtype)
    model = fit(dense)
    assert_fitted(model, dense.shape, np.float32)
    assert np.array_equal(model.item_factors, fit(sp.csr_matrix(dense)).item_factors)


def test_nested_list_input():
    model = fit([[1, 0, 2], [0, 3, 0]], factors=2)
    assert_fitted(model, (2, 3), np.float32)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "dok", "bsr"])
def test_other_sparse_formats_are_converted_with_warning(fmt):
    matrix = mfkit.datasets.synthetic(30, 20, 0.2, seed=5)
    with pytest.warns(UserWarning, match="user_items"):
        model = fit(matrix.asformat(fmt))
    assert np.array_equal(model.user_factors, fit(matrix).user_factors)


def test_numpy_scalar_parameters():
    matrix = mfkit.datasets.synthetic(30, 20, 0.2, seed=5)
    model = fit(matrix, factors=np.int64(3), iterations=np.int32(2), alpha=np.float32(2.0),
                regularization=np.float64(0.5), dtype="float64")
    assert_fitted(model, matrix.shape, np.float64)


# --------------------------------------------------------------------------- rejected inputs
@pytest.fixture
def tiny():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["csr", "dense", "coo"])
def test_non_finite_values_rejected(bad, kind):
    dense = np.array([[1.0, 0.0, 2.0], [0.0, bad, 0.0]])
    matrix = {"csr": sp.csr_matrix(dense), "dense": dense, "coo": sp.coo_matrix(dense)}[kind]
    with pytest.warns(UserWarning) if kind == "coo" else contextlib.nullcontext():
        with pytest.raises(ValueError, match="user_items"):
            fit(matrix)


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


@pytest.mark.parametrize("indices", [[0, 1, 0, 3], [0, 1, 0, 99], [0, -1, 0, 2],
                                     [-5, 1, 0, 2]], ids=["col=n", "col>n", "neg", "neg-first"])
def test_out_of_range_column_indices_rejected(indices):
    with pytest.raises(ValueError, match="user_items"):
        fit(hand_built_csr(indices))


def test_out_of_range_column_indices_rejected_by_loss(tiny):
    model = fit(tiny)
    with pytest.raises(ValueError, match="user_items"):
        model.loss(hand_built_csr([0, 1, 0, 3]))


def test_malformed_indptr_rejected(tiny):
    bad = tiny.copy()
    bad.indptr[1] = 5  # decreasing afterwards and beyond nnz
    with pytest.raises(ValueError, match="user_items"):
        fit(bad)


@pytest.mark.parametrize("array", [np.ones(5), np.ones((2, 3, 4)), np.array(1.0)],
                         ids=["1-D", "3-D", "0-D"])
def test_wrong_number_of_dimensions_rejected(array):
    with pytest.raises(ValueError, match="user_items.*2-D"):
        fit(array)


def test_one_dimensional_sparse_array_rejected():
    try:
        vector = sp.csr_array(np.array([1.0, 0.0, 2.0]))
    except (ValueError, TypeError):
        pytest.skip("this scipy has no 1-D sparse arrays")
    if vector.ndim != 1:
        pytest.skip("this scipy has no 1-D sparse arrays")
    with pytest.raises(ValueError, match="user_items"):
        fit(vector)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_empty_shape_rejected(shape, kind):
    matrix = np.zeros(shape) if kind == "dense" else sp.csr_matrix(shape)
    with pytest.raises(ValueError, match="user_items"):
        fit(matrix)


@pytest.mark.parametrize("matrix", ["abc", None, 3.0, {"a": 1}], ids=repr)
def test_non_matrix_rejected(matrix):
    with pytest.raises(TypeError, match="user_items"):
        fit(matrix)


@pytest.mark.parametrize("array", [np.array([["a", "b"]]), np.array([[1, None]], dtype=object),
                                   np.array([[1 + 1j, 0]])], ids=["str", "object", "complex"])
def test_non_numeric_data_rejected(array):
    with pytest.raises(TypeError, match="user_items"):
        fit(array)


@pytest.mark.parametrize("name,value", [
    ("factors", 0), ("factors", -1), ("iterations", 0), ("iterations", -3), ("cg_steps", 0),
    ("regularization", -1.0), ("regularization", np.inf), ("alpha", np.nan), ("alpha", -0.5),
    ("regularization_exponent", -1.0), ("solver", "foo"), ("solver", None), ("backend", "foo"),
    ("dtype", np.int32), ("dtype", np.float16), ("num_threads", -1), ("random_state", -1),
])
def test_bad_parameter_value_raises_value_error(tiny, name, value):
    with pytest.raises(ValueError, match=name):
        fit(tiny, **{name: value})


@pytest.mark.parametrize("name,value", [
    ("factors", 2.5), ("factors", "3"), ("factors", True), ("iterations", 1.0),
    ("cg_steps", None), ("num_threads", 1.5), ("regularization", "0.1"), ("alpha", None),
    ("random_state", "x"), ("random_state", 1.5), ("calculate_training_loss", 1),
    ("dtype", "not-a-dtype"),
])
def test_bad_parameter_type_raises_type_error(tiny, name, value):
    with pytest.raises(TypeError, match=name):
        fit(tiny, **{name: value})


def test_invalid_parameters_fail_before_any_work(tiny):
    model = mfkit.ALS(factors=0)
    with pytest.raises(ValueError, match="factors"):
        model.fit(tiny, show_progress=False)
    assert not hasattr(model, "user_factors")


@pytest.mark.parametrize("callback", [3, "f", [print]])
def test_non_callable_callback_rejected(tiny, callback):
    with pytest.raises(TypeError, match="callback"):
        mfkit.ALS(iterations=1).fit(tiny, callback=callback, show_progress=False)


def test_non_bool_show_progress_rejected(tiny):
    with pytest.raises(TypeError, match="show_progress"):
        mfkit.ALS(iterations=1).fit(tiny, show_progress="yes")


@pytest.mark.parametrize("name", ["num_threads", "cg_steps"])
def test_parameter_beyond_c_int_range_is_a_clean_value_error(tiny, name):
    with pytest.raises(ValueError, match=name):
        fit(tiny, **{name: 2**40}, solver="cg")


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
                           "num_threads", "backend", "calculate_training_loss"}


def test_get_params_set_params_round_trip(small_matrix):
    model = mfkit.ALS(factors=5, alpha=3.0, solver="cholesky", random_state=11,
                      dtype=np.float64)
    params = model.get_params()
    assert params["factors"] == 5 and params["alpha"] == 3.0 and params["solver"] == "cholesky"
    other = mfkit.ALS().set_params(**params)
    assert other.get_params() == params
    assert model.set_params(factors=6) is model and model.factors == 6
    with pytest.raises(ValueError, match="nope"):
        model.set_params(nope=1)
    assert "factors=6" in repr(model)


def test_clone_without_sklearn(small_matrix):
    model = mfkit.ALS(factors=5, iterations=2, random_state=4, solver="cholesky")
    model.fit(small_matrix, show_progress=False)
    clone = type(model)(**model.get_params())
    assert clone.get_params() == model.get_params()
    assert not hasattr(clone, "user_factors")
    clone.fit(small_matrix, show_progress=False)
    assert np.array_equal(clone.user_factors, model.user_factors)


def test_sklearn_clone_if_available(small_matrix):
    base = pytest.importorskip("sklearn.base")
    model = mfkit.ALS(factors=5, iterations=2, random_state=4)
    clone = base.clone(model)
    assert clone.get_params() == model.get_params()


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
