"""mfkit.NMF rejects bad input and bad parameters with errors naming the culprit."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._core
import mfkit._cpp
from mfkit._csr import csr_arrays


def data(seed=0):
    return mfkit.datasets.synthetic(30, 20, 0.2, seed=seed).astype(np.float64)


def fitted():
    return mfkit.NMF(3, max_iter=20, random_state=0).fit(data(), show_progress=False)


@pytest.mark.parametrize("make", [
    lambda X: X.multiply(-1).tocsr(),
    lambda X: -X.toarray(),
    lambda X: sp.csr_matrix((np.r_[X.data[:-1], -1.0], X.indices, X.indptr), shape=X.shape),
], ids=["sparse", "dense", "one-entry"])
def test_negative_values_rejected(make):
    with pytest.raises(ValueError, match="user_items contains negative values"):
        mfkit.NMF(3).fit(make(data()), show_progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_rejected(bad):
    X = data()
    X.data[0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        mfkit.NMF(3).fit(X, show_progress=False)
    model = fitted()
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.transform(X)


def test_transform_checks_its_input():
    model = fitted()
    with pytest.raises(ValueError, match="X contains negative values"):
        model.transform(-data().toarray())
    with pytest.raises(ValueError, match="19 columns"):
        model.transform(sp.csr_matrix((2, 19)))
    with pytest.raises(TypeError):
        model.transform("not a matrix")
    with pytest.raises(ValueError, match="columns"):
        model.inverse_transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="user_factors must have shape"):
        model.loss(data(), np.ones((2, 3)))


def test_custom_initialization_checks():
    X = data()
    n, m = X.shape
    model = mfkit.NMF(3, init="custom")
    W, H = np.ones((n, 3)), np.ones((3, m))
    with pytest.raises(ValueError, match="needs W"):
        model.fit(X, H=H, show_progress=False)
    with pytest.raises(ValueError, match="H must have shape"):
        model.fit(X, W=W, H=np.ones((m, 3)), show_progress=False)
    with pytest.raises(ValueError, match="W contains negative"):
        model.fit(X, W=-W, H=H, show_progress=False)
    with pytest.raises(ValueError, match="H contains NaN"):
        model.fit(X, W=W, H=np.full((3, m), np.nan), show_progress=False)
    with pytest.raises(ValueError, match="all zeros"):
        model.fit(X, W=np.zeros((n, 3)), H=H, show_progress=False)
    W0 = W.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        model.fit(X, W=W, H=H, show_progress=False)
    assert np.array_equal(W, W0)  # the caller's initial factors are not modified
    with pytest.warns(RuntimeWarning, match="init='custom'"):
        mfkit.NMF(3, max_iter=5, tol=0).fit(X, W=W, H=H, show_progress=False)


def test_nndsvd_needs_few_enough_components():
    with pytest.raises(ValueError, match="n_components <= min"):
        mfkit.NMF(25, init="nndsvda").fit(data(), show_progress=False)
    # the default init falls back to "random" there, as scikit-learn's
    model = mfkit.NMF(25, max_iter=5, tol=0, random_state=0).fit(data(), show_progress=False)
    assert model.components_.shape == (25, 20)
    with pytest.warns(UserWarning, match="nndsvd"):
        mfkit.NMF(3, solver="mu", init="nndsvd", max_iter=5, tol=0).fit(
            data(), show_progress=False)


def test_cpp_kernels_reject_bad_arrays():
    X = data()
    rows = csr_arrays(X)
    W = np.ones((30, 3))
    H = np.ones((20, 3))
    common = dict(l1=0.0, l2=0.0, missing="zero", num_threads=1)
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        mfkit._cpp.nmf_cd_update(rows, H, np.asfortranarray(W), **common)
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        mfkit._cpp._kernel("nmf_cd_update", np.dtype(np.float32))(
            rows.indptr, rows.indices, rows.data, H, W, np.empty((0, 0)), np.empty((0, 0)), None,
            0.0, 0.0, False, 1)
    with pytest.raises(ValueError, match="solved_gram"):
        mfkit._cpp.nmf_cd_update(rows, H, W, solved_gram=np.empty((3, 2)), **common)
    with pytest.raises(ValueError, match="solved_gram"):
        mfkit._cpp.nmf_cd_update(rows, H, W, solved_gram=np.empty((3, 3), np.float32), **common)
    with pytest.raises(ValueError, match="fixed_gram"):
        mfkit._cpp.nmf_cd_update(rows, H, W, fixed_gram=np.empty((3, 2)), **common)
    read_only = W.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        mfkit._cpp.nmf_cd_update(rows, H, read_only, **common)
    with pytest.raises(ValueError, match="one row per"):
        mfkit._cpp.nmf_cd_update(rows, H, np.ones((29, 3)), **common)
    with pytest.raises(ValueError, match="same number of components"):
        mfkit._cpp.nmf_cd_update(rows, H, np.ones((30, 4)), **common)
    with pytest.raises(ValueError, match="column index out of range"):
        mfkit._cpp.nmf_cd_update(rows, np.ones((10, 3)), W, **common)
    with pytest.raises(ValueError, match="non-negative"):
        negative = rows._replace(data=-rows.data)
        mfkit._cpp.nmf_cd_update(negative, H, W, **common)
    with_nan = rows._replace(data=np.where(np.arange(len(rows.data)) == 5, np.nan, rows.data))
    for kernel in (lambda m: mfkit._cpp.nmf_cd_update(m, H, W.copy(), **common),
                   lambda m: mfkit._cpp.nmf_mu_update(m, H, W.copy(), beta_loss="kullback-leibler",
                                                      flush_below=0.0, **common),
                   lambda m: mfkit._cpp.nmf_loss(m, W, H, beta_loss="frobenius", missing="ignore",
                                                 num_threads=1),
                   lambda m: mfkit._cpp.nmf_solve(m, H, None, W.copy(), solver="mu",
                                                  beta_loss="frobenius", max_iter=3, tol=0.0,
                                                  **common)):
        with pytest.raises(ValueError, match="non-negative"):
            kernel(with_nan)
        with pytest.raises(ValueError, match="column index out of range"):
            kernel(rows._replace(indices=np.where(rows.indices == 3, 25, rows.indices)
                                 .astype(np.int32)))
    with pytest.raises(ValueError, match="indptr"):
        mfkit._cpp.nmf_cd_update(rows._replace(indptr=rows.indptr[::-1].copy()), H, W, **common)
    with pytest.raises(ValueError, match="l1 penalty"):
        mfkit._cpp.nmf_cd_update(rows, H, W, **{**common, "l1": -1.0})
    with pytest.raises(ValueError, match="products"):
        mfkit._cpp.nmf_cd_update(rows, H, W, products=np.ones((2, 3)), **common)
    with pytest.raises(ValueError, match="beta_loss"):
        mfkit._cpp.nmf_mu_update(rows, H, W, beta_loss="is", flush_below=0.0, **common)
    with pytest.raises(ValueError, match="solver"):
        mfkit._cpp.nmf_solve(rows, H, None, W, solver="x", beta_loss="frobenius", max_iter=5,
                             tol=0.0, **common)
    with pytest.raises(ValueError, match="max_iter"):
        mfkit._cpp.nmf_solve(rows, H, None, W, solver="cd", beta_loss="frobenius", max_iter=0,
                             tol=0.0, **common)
    with pytest.raises(ValueError, match="fixed_gram"):
        mfkit._cpp.nmf_solve(rows, H, np.ones((2, 2)), W, solver="cd", beta_loss="frobenius",
                             max_iter=5, tol=0.0, **common)
    cols = csr_arrays(X.T.tocsr())
    with pytest.raises(ValueError, match="cumulative column counts"):
        mfkit._cpp.csr_transpose_matmul(rows, cols.indptr * 2, W, num_threads=1)
    unsorted = rows._replace(indices=rows.indices[::-1].copy())
    with pytest.raises(ValueError, match="sorted"):
        mfkit._cpp.csr_transpose_matmul(unsorted, cols.indptr, W, num_threads=1)
