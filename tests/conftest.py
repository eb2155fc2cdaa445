"""Shared fixtures for the mfkit test suite.

The tests import the *installed* package: ``python/`` is never put on ``sys.path``.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit

# Row / column of the fixture matrix that are emptied on purpose.
EMPTY_USER = 7
EMPTY_ITEM = 5


def rel_err(a, b) -> float:
    """max|a - b| / max|b| (0 when both are all zeros)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shape mismatch: {a.shape} vs {b.shape}"
    scale = np.max(np.abs(b)) if b.size else 0.0
    diff = np.max(np.abs(a - b)) if a.size else 0.0
    if scale == 0.0:
        return float(diff)
    return float(diff / scale)


def make_implicit_matrix(seed: int = 0, n_users: int = 60, n_items: int = 40,
                         density: float = 0.1, n_negative: int = 15) -> sp.csr_matrix:
    """A small float64 CSR matrix with varied positive counts, some negative (dislike) entries,
    user row ``EMPTY_USER`` and item column ``EMPTY_ITEM`` without any stored entry."""
    rng = np.random.default_rng(seed + 1000)
    base = mfkit.datasets.synthetic(n_users, n_items, density, seed=seed).astype(np.float64)
    coo = base.tocoo()
    rows, cols = list(coo.row), list(coo.col)
    data = list(coo.data * rng.uniform(0.5, 3.0, size=coo.nnz))  # non-integer values
    # Negative entries: flip some existing ones and add some new cells.
    flip = rng.choice(len(data), size=min(n_negative, len(data)) // 2, replace=False)
    for e in flip:
        data[e] = -abs(data[e])
    dense = base.toarray()
    added = 0
    while added < n_negative - len(flip):
        u, i = int(rng.integers(n_users)), int(rng.integers(n_items))
        if dense[u, i] == 0:
            dense[u, i] = 1  # mark as used
            rows.append(u)
            cols.append(i)
            data.append(-float(rng.uniform(0.5, 4.0)))
            added += 1
    matrix = sp.csr_matrix((np.array(data), (np.array(rows), np.array(cols))),
                           shape=(n_users, n_items))
    matrix.sum_duplicates()
    # Empty one user row and one item column.
    matrix = matrix.tolil()
    matrix[EMPTY_USER, :] = 0
    matrix[:, EMPTY_ITEM] = 0
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    assert matrix.getnnz(axis=1)[EMPTY_USER] == 0
    assert matrix.getnnz(axis=0)[EMPTY_ITEM] == 0
    assert (matrix.data < 0).sum() >= n_negative // 2
    assert (matrix.data > 0).sum() > 0
    return matrix


@pytest.fixture(params=[0, 1], ids=lambda s: f"seed{s}")
def implicit_matrix(request) -> sp.csr_matrix:
    """Small seeded implicit matrix (60 x 40) with negatives, an empty user and an empty item."""
    return make_implicit_matrix(seed=request.param)


@pytest.fixture
def small_matrix() -> sp.csr_matrix:
    """One fixed instance of the implicit matrix (for tests that need no seed sweep)."""
    return make_implicit_matrix(seed=3)


@pytest.fixture
def matrix_factory():
    """``make_implicit_matrix`` for tests that need several seeds or sizes."""
    return make_implicit_matrix


@pytest.fixture(name="rel_err")
def rel_err_fixture():
    """The ``rel_err(a, b) = max|a-b| / max|b|`` helper."""
    return rel_err


@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster of two worker processes (one thread each) and its client, started by the
    tests themselves, once per test module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def assert_backends_agree(matrix, tol, rel_err, **params):
    """ALS(**params) fitted by both backends: factors and loss history within ``tol``."""
    cpp, ref = (mfkit.ALS(backend=backend, calculate_training_loss=True, **params)
                .fit(matrix, show_progress=False) for backend in ("cpp", "reference"))
    assert rel_err(cpp.user_factors, ref.user_factors) <= tol
    assert rel_err(cpp.item_factors, ref.item_factors) <= tol
    assert rel_err(cpp.loss_history, ref.loss_history) <= tol
    return cpp
