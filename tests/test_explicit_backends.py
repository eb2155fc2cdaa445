"""ExplicitMF: the C++ kernels and the numpy reference compute the same thing, and the ALS-WR
row solve is the closed form.

Both backends consume the same initial factors (drawn in Python) and the same rating order (the
per-block shuffle is the same SplitMix64 Fisher–Yates in both, checked here bit for bit).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._cpp as cpp
import mfkit.reference as ref
from mfkit._csr import csr_arrays
from mfkit._validation import check_ratings
from mfkit.models.explicit import ExplicitMF


def rating_matrix(seed=0, n_users=30, n_items=20, density=0.3, dtype=np.float64):
    """Random half-star ratings with a few stored zeros, one empty user and one empty item."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[3, :] = False
    mask[:, 4] = False
    rows, cols = np.nonzero(mask)
    values = rng.integers(1, 11, size=len(rows)) / 2.0
    values[::17] = 0.0  # stored zeros are ratings of 0
    return sp.csr_matrix((values.astype(dtype), (rows, cols)), shape=(n_users, n_items))


def blocks_of(matrix, dtype):
    """(ratings CSR, SGD blocks): both in the SGD's internal labelling."""
    by_user = csr_arrays(check_ratings(matrix, dtype))
    layout = ExplicitMF._sgd_layout(by_user, dtype, np.random.default_rng(0))
    return layout.ratings, layout.blocks


def copy_blocks(blocks):
    return blocks._replace(users=blocks.users.copy(), items=blocks.items.copy(),
                           ratings=blocks.ratings.copy())


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (scale if scale else 1.0))


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    """A grid of several blocks on the small test matrices (the default needs ~32k ratings
    for a 4 x 4 grid)."""
    monkeypatch.setattr(mfkit.models.explicit, "SGD_BLOCK_RATINGS", 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_shuffle_is_identical(dtype):
    _, blocks = blocks_of(rating_matrix(1, 40, 30, 0.4), dtype)
    assert blocks.grid >= 4
    a, b = copy_blocks(blocks), copy_blocks(blocks)
    cpp.explicit_shuffle(a, 2**63 + 12345, num_threads=2)
    ref.explicit_shuffle(b, 2**63 + 12345)
    for name in ("users", "items", "ratings"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    # A real shuffle of each block (same multiset, different order).
    assert not np.array_equal(a.users, blocks.users) or not np.array_equal(a.items, blocks.items)
    for block in range(blocks.grid**2):
        s = slice(blocks.block_ptr[block], blocks.block_ptr[block + 1])
        before = sorted(zip(blocks.users[s], blocks.items[s]))
        assert sorted(zip(a.users[s], a.items[s])) == before


def start_state(matrix, dtype, k=5, seed=0):
    rng = np.random.default_rng(seed)
    P = (rng.standard_normal((matrix.shape[0], k)) * 0.3).astype(dtype)
    Q = (rng.standard_normal((matrix.shape[1], k)) * 0.3).astype(dtype)
    bu = (rng.standard_normal(matrix.shape[0]) * 0.1).astype(dtype)
    bi = (rng.standard_normal(matrix.shape[1]) * 0.1).astype(dtype)
    return P, Q, bu, bi


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 1e-4)], ids=["f64", "f32"])
@pytest.mark.parametrize("biased", [True, False])
def test_sgd_epoch_agrees(dtype, tol, biased):
    matrix = rating_matrix(2)
    by_user, blocks = blocks_of(matrix, dtype)
    strata = np.array([2, 0, 3, 1], dtype=np.int32)
    states = []
    for backend, threads in ((cpp, 2), (ref, 1)):
        P, Q, bu, bi = start_state(matrix, dtype)
        backend.explicit_sgd_epoch(blocks, strata, P, Q, bu, bi, global_mean=2.7,
                                   learning_rate=0.05, regularization=0.1, biased=biased,
                                   num_threads=threads)
        states.append((P, Q, bu, bi))
    for got, want in zip(*states):
        assert got.dtype == np.dtype(dtype)
        assert rel_err(got, want) <= tol
    assert not np.allclose(states[0][0], start_state(matrix, dtype)[0])  # something moved


def test_sgd_epoch_matches_hand_written_updates():
    """The kernel's per-rating rule, spelled out for a 1 x 1 grid processed in stored order."""
    matrix = rating_matrix(3, 6, 5, 0.6)
    by_user, blocks = blocks_of(matrix, np.float64)
    assert blocks.grid == 1
    P, Q, bu, bi = start_state(matrix, np.float64)
    expected = [a.copy() for a in (P, Q, bu, bi)]
    mu, lr, reg = 3.1, 0.03, 0.2
    cpp.explicit_sgd_epoch(blocks, np.zeros(1, np.int32), P, Q, bu, bi, global_mean=mu,
                           learning_rate=lr, regularization=reg, biased=True, num_threads=1)
    eP, eQ, ebu, ebi = expected
    for u, i, r in zip(blocks.users, blocks.items, blocks.ratings):
        e = r - (mu + ebu[u] + ebi[i] + eP[u] @ eQ[i])
        ebu[u] += lr * (e - reg * ebu[u])
        ebi[i] += lr * (e - reg * ebi[i])
        p_old = eP[u].copy()
        eP[u] = eP[u] + lr * (e * eQ[i] - reg * eP[u])
        eQ[i] = eQ[i] + lr * (e * p_old - reg * eQ[i])
    for got, want in zip((P, Q, bu, bi), expected):
        assert rel_err(got, want) <= 1e-12


@pytest.mark.parametrize("biased", [True, False])
def test_loss_agrees_with_formula(biased):
    matrix = rating_matrix(4)
    by_user = csr_arrays(check_ratings(matrix, np.float64))
    P, Q, bu, bi = start_state(matrix, np.float64)
    mu, reg = 3.3, 0.07
    got_cpp = cpp.explicit_loss(by_user, P, Q, bu, bi, global_mean=mu, regularization=reg,
                                biased=biased, num_threads=2)
    got_ref = ref.explicit_loss(by_user, P, Q, bu, bi, global_mean=mu, regularization=reg,
                                biased=biased)
    coo = matrix.tocoo()
    want = 0.0
    for u, i, r in zip(coo.row, coo.col, coo.data):
        pred = P[u] @ Q[i] + ((mu + bu[u] + bi[i]) if biased else 0.0)
        penalty = P[u] @ P[u] + Q[i] @ Q[i] + ((bu[u] ** 2 + bi[i] ** 2) if biased else 0.0)
        want += (r - pred) ** 2 + reg * penalty
    assert rel_err(got_cpp, want) <= 1e-12
    assert rel_err(got_ref, want) <= 1e-12


def closed_form(matrix, F, c, mu, lam, biased):
    """x_u = (ZᵀZ + λ n_u I)⁻¹ Zᵀ t, densely, row by row."""
    k = F.shape[1]
    X, b = np.zeros((matrix.shape[0], k)), np.zeros(matrix.shape[0])
    for u in range(matrix.shape[0]):
        cols = matrix.indices[matrix.indptr[u]:matrix.indptr[u + 1]]
        r = matrix.data[matrix.indptr[u]:matrix.indptr[u + 1]]
        if len(cols) == 0:
            continue
        Z, t = F[cols], r.copy()
        if biased:
            Z = np.hstack([Z, np.ones((len(cols), 1))])
            t = r - mu - c[cols]
        x = np.linalg.solve(Z.T @ Z + lam * len(cols) * np.eye(Z.shape[1]), Z.T @ t)
        X[u] = x[:k]
        if biased:
            b[u] = x[k]
    return X, b


@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("k", [3, 12], ids=["rows-longer-than-k", "rows-shorter-than-k"])
def test_als_row_solve_is_the_closed_form(biased, k):
    matrix = check_ratings(rating_matrix(5), np.float64)
    rng = np.random.default_rng(7)
    F = rng.standard_normal((matrix.shape[1], k))
    c = rng.standard_normal(matrix.shape[1])
    mu, lam = 3.2, 0.05
    want_X, want_b = closed_form(matrix, F, c, mu, lam, biased)
    for backend in (cpp, ref):
        X = np.full((matrix.shape[0], k), 9.0)
        b = np.full(matrix.shape[0], 9.0)
        backend.explicit_als_solve_rows(csr_arrays(matrix), F, c, X, b, global_mean=mu,
                                        regularization=lam, biased=biased, num_threads=2)
        assert rel_err(X, want_X) <= 1e-9
        if biased:
            assert rel_err(b, want_b) <= 1e-9
        assert np.all(X[3] == 0)  # the empty user


@pytest.mark.parametrize("solver", ["sgd", "als"])
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("iterations", [1, 3])
def test_fits_agree(solver, biased, iterations):
    matrix = rating_matrix(6)
    models = [ExplicitMF(factors=6, solver=solver, biased=biased, iterations=iterations,
                         learning_rate=0.02, regularization=0.05, dtype=np.float64,
                         random_state=11, backend=backend, num_threads=2)
              .fit(matrix, show_progress=False) for backend in ("cpp", "reference")]
    a, b = models
    for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
        assert rel_err(getattr(a, name), getattr(b, name)) <= 1e-9, name
    assert rel_err(a.loss_history, b.loss_history) <= 1e-9
    assert a.global_mean == b.global_mean


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_fits_agree_float32(solver):
    matrix = rating_matrix(8)
    a, b = [ExplicitMF(factors=4, solver=solver, iterations=2, random_state=1, backend=backend,
                       learning_rate=0.02).fit(matrix, show_progress=False)
            for backend in ("cpp", "reference")]
    assert a.user_factors.dtype == np.float32 == b.user_factors.dtype
    assert rel_err(a.item_factors, b.item_factors) <= 1e-4
    assert rel_err(a.loss_history, b.loss_history) <= 1e-4
