"""Reproducibility: seeds fix the result bit for bit, the thread count never changes it, and fit
never modifies the caller's matrix."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit

SOLVERS = ["cholesky", "cg"]
DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module")
def medium_matrix():
    return mfkit.datasets.synthetic(500, 300, 0.05, seed=4)


def fit(matrix, **params):
    params.setdefault("factors", 8)
    params.setdefault("iterations", 3)
    return mfkit.ALS(**params).fit(matrix, show_progress=False)


def assert_same_factors(a, b):
    assert a.user_factors.dtype == b.user_factors.dtype
    assert np.array_equal(a.user_factors, b.user_factors)
    assert np.array_equal(a.item_factors, b.item_factors)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_same_seed_gives_identical_factors(small_matrix, solver, dtype):
    a = fit(small_matrix, solver=solver, dtype=dtype, random_state=123,
            calculate_training_loss=True)
    b = fit(small_matrix, solver=solver, dtype=dtype, random_state=123,
            calculate_training_loss=True)
    assert_same_factors(a, b)
    assert a.loss_history == b.loss_history


def test_seed_and_generator_with_that_seed_agree(small_matrix):
    a = fit(small_matrix, random_state=9)
    b = fit(small_matrix, random_state=np.random.default_rng(9))
    assert_same_factors(a, b)


@pytest.mark.parametrize("solver", SOLVERS)
def test_reference_backend_is_deterministic(small_matrix, solver):
    a = fit(small_matrix, solver=solver, backend="reference", random_state=5, iterations=2)
    b = fit(small_matrix, solver=solver, backend="reference", random_state=5, iterations=2)
    assert_same_factors(a, b)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_thread_count_does_not_change_result(medium_matrix, solver, dtype):
    # factors >= 16 exercises the blocked reductions of the C++ dot product.
    params = dict(factors=20, iterations=3, solver=solver, dtype=dtype, random_state=0,
                  calculate_training_loss=True, regularization_exponent=0.5)
    one = fit(medium_matrix, num_threads=1, **params)
    two = fit(medium_matrix, num_threads=2, **params)
    assert_same_factors(one, two)
    assert one.loss_history == two.loss_history
    three = fit(medium_matrix, num_threads=3, **params)  # more threads than cores is allowed
    assert_same_factors(one, three)
    assert one.loss(medium_matrix) == two.set_params(num_threads=2).loss(medium_matrix)


@pytest.mark.parametrize("solver", SOLVERS)
def test_different_seeds_give_different_factors(small_matrix, solver):
    a = fit(small_matrix, solver=solver, random_state=1)
    b = fit(small_matrix, solver=solver, random_state=2)
    assert not np.allclose(a.user_factors, b.user_factors)
    assert not np.allclose(a.item_factors, b.item_factors)


# ------------------------------------------------------------------ the input is never modified
def snapshot(matrix):
    if sp.issparse(matrix) and matrix.format in ("csr", "csc"):
        return matrix.format, matrix.dtype, [matrix.data.copy(), matrix.indices.copy(),
                                             matrix.indptr.copy()]
    if sp.issparse(matrix) and matrix.format == "coo":
        return matrix.format, matrix.dtype, [matrix.data.copy(), matrix.row.copy(),
                                             matrix.col.copy()]
    return "dense", matrix.dtype, [np.array(matrix, copy=True)]


def assert_unchanged(matrix, before):
    after = snapshot(matrix)
    assert after[0] == before[0] and after[1] == before[1]
    for a, b in zip(after[2], before[2]):
        assert a.dtype == b.dtype
        assert np.array_equal(a, b)


def messy_csr(dtype=np.float64, index_dtype=np.int32):
    """CSR with unsorted column indices, duplicate entries and an explicit stored zero."""
    data = np.array([1.0, 2.0, -1.5, 3.0, 0.0, 4.0, 1.0, 2.5], dtype=dtype)
    indices = np.array([3, 0, 3, 1, 2, 1, 0, 2], dtype=index_dtype)
    indptr = np.array([0, 3, 6, 6, 8], dtype=index_dtype)
    matrix = sp.csr_matrix((data, indices, indptr), shape=(4, 4))
    assert not matrix.has_canonical_format
    return matrix


def canonical(matrix):
    clean = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    clean.sum_duplicates()
    clean.eliminate_zeros()
    return clean


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_fit_does_not_modify_unsorted_csr_with_duplicates(dtype, index_dtype):
    matrix = messy_csr(dtype, index_dtype)
    before = snapshot(matrix)
    model = fit(matrix, factors=3, dtype=dtype, random_state=0, solver="cholesky")
    assert_unchanged(matrix, before)
    model.loss(matrix)
    assert_unchanged(matrix, before)
    # Duplicates are summed: same result as fitting the canonical matrix.
    assert_same_factors(model, fit(canonical(matrix), factors=3, dtype=dtype, random_state=0,
                                   solver="cholesky"))


def test_fit_converts_coo_with_a_warning_and_leaves_it_alone(small_matrix):
    coo = small_matrix.tocoo()
    before = snapshot(coo)
    with pytest.warns(UserWarning, match="CSR") as record:
        model = mfkit.ALS(factors=8, iterations=3, random_state=0).fit(coo, show_progress=False)
    assert_unchanged(coo, before)
    # The warning points at the caller of fit, not at mfkit internals.
    assert record[0].filename == __file__
    assert_same_factors(model, fit(small_matrix, random_state=0))


def test_coo_with_duplicates_is_summed_and_not_modified():
    coo = sp.coo_matrix((np.array([1.0, 2.0, 3.0, -1.0]), (np.array([0, 0, 1, 2]),
                                                             np.array([1, 1, 0, 2]))),
                        shape=(3, 3))
    before = snapshot(coo)
    with pytest.warns(UserWarning, match="COO"):
        model = fit(coo, factors=2, random_state=0)
    assert_unchanged(coo, before)
    assert_same_factors(model, fit(canonical(coo.tocsr()), factors=2, random_state=0))


def test_csr_matrix_input_does_not_warn(small_matrix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(small_matrix, random_state=0)
        fit(sp.csr_array(small_matrix), random_state=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_fit_does_not_modify_csr_array(small_matrix, dtype):
    array = sp.csr_array(small_matrix.astype(dtype))
    before = snapshot(array)
    model = fit(array, random_state=0, dtype=dtype)
    assert_unchanged(array, before)
    assert_same_factors(model, fit(sp.csr_matrix(small_matrix), random_state=0, dtype=dtype))


def test_fit_does_not_modify_dense_input(small_matrix):
    dense = small_matrix.toarray()
    before = snapshot(dense)
    model = fit(dense, random_state=0)
    assert_unchanged(dense, before)
    assert_same_factors(model, fit(small_matrix, random_state=0))
