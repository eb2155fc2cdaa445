"""The fit's data path: CSR arrays and their transpose without needless copies, initial factors
without full-size float64 temporaries, all with the same values as the plain numpy forms."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import _init_factors
from mfkit._csr import csr_arrays, transposed
from mfkit._init_factors import normal_factors
from mfkit._validation import check_user_items


def assert_same_arrays(actual, expected):
    assert actual.shape == expected.shape
    for name in ("indptr", "indices", "data"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype and a.flags.c_contiguous
        np.testing.assert_array_equal(a, e)


def random_csr(rows, cols, density, dtype, index_dtype, seed=0):
    """Canonical CSR with row 3 and column 7 empty, in the given index dtype."""
    coo = sp.random(rows, cols, density=density, format="coo", dtype=dtype, random_state=seed)
    keep = (coo.row != 3) & (coo.col != 7)
    matrix = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    matrix.indices = matrix.indices.astype(index_dtype)
    matrix.indptr = matrix.indptr.astype(index_dtype)
    return matrix


# ------------------------------------------------------------------------------ initial factors
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (7, 3), (40_000, 64)])
def test_normal_factors_equal_the_one_shot_draw(shape, dtype):
    std = 0.1 / np.sqrt(shape[1])
    expected_rng, rng = np.random.default_rng(3), np.random.default_rng(3)
    expected = (expected_rng.standard_normal(shape) * std).astype(dtype)
    actual = normal_factors(rng, std, np.empty(shape, dtype))
    assert actual.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(actual, expected)
    # The generator is left where the one-shot draw leaves it (the item factors come next).
    np.testing.assert_array_equal(rng.standard_normal(5), expected_rng.standard_normal(5))


@pytest.mark.parametrize("chunk_values", [1, 5, 6, 64])
def test_normal_factors_do_not_depend_on_the_chunk_size(monkeypatch, chunk_values):
    shape, std = (13, 6), 0.25
    expected = (np.random.default_rng(1).standard_normal(shape) * std).astype(np.float32)
    monkeypatch.setattr(_init_factors, "_CHUNK_VALUES", chunk_values)
    actual = normal_factors(np.random.default_rng(1), std, np.empty(shape, np.float32))
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_als_initial_factors_are_unchanged(dtype):
    rows, k = 1000, 16
    expected = (np.random.default_rng(7).standard_normal((rows, k))
                * (0.1 / np.sqrt(k))).astype(dtype)
    actual = mfkit.ALS()._initial_factors(np.random.default_rng(7), rows, k, np.dtype(dtype))
    np.testing.assert_array_equal(actual, expected)


# --------------------------------------------------------------------------------- CSR arrays
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_transposed_equals_scipy_transpose(dtype, index_dtype):
    matrix = random_csr(60, 45, 0.1, dtype, index_dtype)
    by_row = csr_arrays(matrix)
    before = [a.copy() for a in by_row[:3]]
    by_column = transposed(by_row)
    assert_same_arrays(by_column, csr_arrays(matrix.T.tocsr()))
    assert by_column.shape == (45, 60)
    for array, original in zip(by_row[:3], before):
        np.testing.assert_array_equal(array, original)


def test_csr_arrays_copy_only_what_is_not_in_the_core_layout():
    matrix = random_csr(30, 20, 0.2, np.float32, np.int32)
    arrays = csr_arrays(matrix)
    assert np.shares_memory(arrays.indices, matrix.indices)
    assert np.shares_memory(arrays.data, matrix.data)
    assert arrays.indptr.dtype == np.int64  # the one conversion (rows + 1 values)


def test_check_user_items_converts_only_the_data():
    """A float64 matrix fitted in float32: the data is converted, the index arrays are shared
    read-only, and the caller's matrix is left as it was."""
    matrix = random_csr(30, 20, 0.2, np.float64, np.int32)
    original = matrix.copy()
    checked = check_user_items(matrix, np.dtype(np.float32))
    assert checked.dtype == np.float32
    assert np.shares_memory(checked.indices, matrix.indices)
    np.testing.assert_array_equal(checked.data, original.data.astype(np.float32))
    mfkit.ALS(factors=3, iterations=2, random_state=0).fit(matrix, show_progress=False)
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(matrix, name), getattr(original, name))
        assert getattr(matrix, name).dtype == getattr(original, name).dtype
