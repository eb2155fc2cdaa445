"""The ALS maths, checked against dense brute-force formulas written independently here.

Implicit ALS (Hu, Koren & Volinsky 2008): for a stored value r, p = [r > 0] and
c = 1 + alpha |r|; every unstored cell has p = 0, c = 1. Row u is solved from
    (Yᵀ C_u Y + λ_u I) x_u = Yᵀ C_u p_u,    λ_u = λ · n_u^ν,
and the objective is Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖².
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._cpp
from mfkit._csr import csr_arrays
from mfkit._validation import check_user_items

F64 = np.dtype(np.float64)


# ----------------------------------------------------------------------------- dense helpers
def dense_confidence_preference(dense: np.ndarray, alpha: float):
    """Full m x n confidence and preference matrices (unstored cells: c = 1, p = 0)."""
    c = 1.0 + alpha * np.abs(dense)
    p = (dense > 0).astype(np.float64)
    return c, p


def dense_row_solve(dense_row, Y, lam_row, alpha):
    """x_u = (Yᵀ C_u Y + λ_u I)⁻¹ Yᵀ C_u p_u with the FULL n_items x n_items diagonal C_u."""
    c_u, p_u = dense_confidence_preference(dense_row, alpha)
    C_u = np.diag(c_u)
    k = Y.shape[1]
    return np.linalg.solve(Y.T @ C_u @ Y + lam_row * np.eye(k), Y.T @ C_u @ p_u)


def dense_objective(dense, X, Y, lam, alpha, nu=0.0):
    """Σ_{u,i} c_ui (p_ui − x_u·y_i)² + λ (Σ_u n_u^ν ‖x_u‖² + Σ_i n_i^ν ‖y_i‖²), brute force."""
    c, p = dense_confidence_preference(dense, alpha)
    S = X @ Y.T
    n_user = (dense != 0).sum(axis=1).astype(np.float64)
    n_item = (dense != 0).sum(axis=0).astype(np.float64)
    total = 0.0
    for u in range(dense.shape[0]):
        for i in range(dense.shape[1]):
            total += c[u, i] * (p[u, i] - S[u, i]) ** 2
    total += lam * np.sum(n_user**nu * np.sum(X**2, axis=1))
    total += lam * np.sum(n_item**nu * np.sum(Y**2, axis=1))
    return total


def random_factors(rows, k, seed, scale=0.3):
    return np.random.default_rng(seed).standard_normal((rows, k)) * scale


def cpp_half_sweep(matrix, fixed, solved, *, lam, alpha, nu=0.0, solver="cholesky", cg_steps=3,
                   num_threads=1):
    mfkit._cpp.als_half_sweep(csr_arrays(matrix), fixed, solved, regularization=lam,
                              regularization_exponent=nu, alpha=alpha, solver=solver,
                              cg_steps=cg_steps, num_threads=num_threads)


# ----------------------------------------------------------------------- the row solve itself
@pytest.mark.parametrize("alpha", [0.0, 1.0, 15.0])
@pytest.mark.parametrize("lam", [0.05, 1.0])
@pytest.mark.parametrize("k", [1, 4, 9, 16, 48])
def test_user_half_sweep_matches_dense_formula(implicit_matrix, alpha, lam, k):
    R = check_user_items(implicit_matrix, F64)
    dense = R.toarray()
    n_users, n_items = R.shape
    Y = random_factors(n_items, k, seed=k)
    X = random_factors(n_users, k, seed=100 + k)  # overwritten: cholesky ignores the start
    cpp_half_sweep(R, Y, X, lam=lam, alpha=alpha, solver="cholesky")

    for u in range(n_users):
        if not dense[u].any():
            continue
        expected = dense_row_solve(dense[u], Y, lam, alpha)
        # relative to the row's scale: an entry near 0 gets no element-wise relative bound
        np.testing.assert_allclose(X[u], expected, rtol=1e-10,
                                   atol=1e-10 * np.abs(expected).max(), err_msg=f"user row {u}")


@pytest.mark.parametrize("k", [5, 16])
def test_item_half_sweep_matches_dense_formula(implicit_matrix, k):
    """The item half-sweep is the same solve on the transposed matrix."""
    lam, alpha = 0.2, 4.0
    R = check_user_items(implicit_matrix, F64)
    Rt = R.T.tocsr()
    dense_t = Rt.toarray()
    X = random_factors(R.shape[0], k, seed=1)
    Y = np.zeros((R.shape[1], k))
    cpp_half_sweep(Rt, X, Y, lam=lam, alpha=alpha)
    for i in range(R.shape[1]):
        if dense_t[i].any():
            expected = dense_row_solve(dense_t[i], X, lam, alpha)
            np.testing.assert_allclose(Y[i], expected, rtol=1e-10,
                                       atol=1e-10 * np.abs(expected).max(), err_msg=f"item row {i}")


def short_and_long_rows_matrix(seed=0):
    """Mostly short rows (fewer entries than factors) plus a few long ones, with negatives."""
    rng = np.random.default_rng(seed)
    dense = mfkit.datasets.synthetic(80, 60, 0.04, seed=seed).toarray().astype(np.float64)
    for u in range(5):  # long rows: 30-45 entries
        cols = rng.choice(60, size=30 + 3 * u, replace=False)
        dense[u, cols] = rng.uniform(0.2, 6.0, size=len(cols))
    dense[rng.random(dense.shape) < 0.02] *= -1
    dense[10] = 0.0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("alpha", [0.01, 1.0, 40.0])
@pytest.mark.parametrize("k", [12, 24])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_exact_solve_of_short_and_long_rows_matches_dense_formula(alpha, k, num_threads,
                                                                  rel_err):
    """Rows shorter and longer than k (the exact solve may take different routes for them)."""
    lam = 0.1
    matrix = short_and_long_rows_matrix()
    dense = matrix.toarray()
    counts = (dense != 0).sum(axis=1)
    assert (counts >= k).sum() >= 5 and (counts[counts > 0] < k).sum() >= 50
    Y64 = random_factors(matrix.shape[1], k, seed=k)
    expected = np.array([dense_row_solve(dense[u], Y64, lam, alpha) if counts[u] else np.zeros(k)
                         for u in range(matrix.shape[0])])
    X64 = np.zeros((matrix.shape[0], k))
    cpp_half_sweep(check_user_items(matrix, F64), Y64, X64, lam=lam, alpha=alpha,
                   num_threads=num_threads)
    for u in range(matrix.shape[0]):
        np.testing.assert_allclose(X64[u], expected[u], rtol=1e-10, atol=1e-12,
                                   err_msg=f"row {u} with {counts[u]} entries")

    Y32 = Y64.astype(np.float32)
    expected32 = np.array([dense_row_solve(dense[u], Y32.astype(np.float64), lam, alpha)
                           if counts[u] else np.zeros(k) for u in range(matrix.shape[0])])
    X32 = np.zeros((matrix.shape[0], k), dtype=np.float32)
    cpp_half_sweep(check_user_items(matrix, np.dtype(np.float32)), Y32, X32, lam=lam,
                   alpha=alpha, num_threads=num_threads)
    assert rel_err(X32, expected32) <= 1e-4


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_empty_rows_become_exactly_zero(implicit_matrix, solver):
    """A row without stored entries has b = 0, so its solution is exactly 0 (both solvers)."""
    R = check_user_items(implicit_matrix, F64)
    empty_users = np.flatnonzero(R.getnnz(axis=1) == 0)
    empty_items = np.flatnonzero(R.getnnz(axis=0) == 0)
    assert len(empty_users) >= 1 and len(empty_items) >= 1
    k = 4
    X = random_factors(R.shape[0], k, seed=1) + 1.0  # non-zero everywhere before the sweep
    Y = random_factors(R.shape[1], k, seed=2) + 1.0
    cpp_half_sweep(R, Y, X, lam=0.1, alpha=2.0, solver=solver)
    assert np.all(X[empty_users] == 0.0)
    has_positive = np.flatnonzero((R > 0).getnnz(axis=1) > 0)
    assert np.all(np.any(X[has_positive] != 0.0, axis=1))
    cpp_half_sweep(R.T.tocsr(), X, Y, lam=0.1, alpha=2.0, solver=solver)
    assert np.all(Y[empty_items] == 0.0)


@pytest.mark.parametrize("nu", [0.5, 1.0, 2.0])
def test_frequency_scaled_regularization_matches_dense_formula(implicit_matrix, nu):
    lam, alpha, k = 0.3, 5.0, 6
    R = check_user_items(implicit_matrix, F64)
    dense = R.toarray()
    Y = random_factors(R.shape[1], k, seed=2)
    X = np.zeros((R.shape[0], k))
    cpp_half_sweep(R, Y, X, lam=lam, alpha=alpha, nu=nu)
    counts = (dense != 0).sum(axis=1)
    for u in range(R.shape[0]):
        if counts[u] == 0:
            assert np.all(X[u] == 0.0)
            continue
        expected = dense_row_solve(dense[u], Y, lam * counts[u] ** nu, alpha)
        np.testing.assert_allclose(X[u], expected, rtol=1e-10, atol=1e-12,
                                   err_msg=f"user row {u} (n_u={counts[u]})")
    # ν really changes the answer for rows with more than one entry.
    plain = np.zeros_like(X)
    cpp_half_sweep(R, Y, plain, lam=lam, alpha=alpha, nu=0.0)
    multi = counts > 1
    assert not np.allclose(X[multi], plain[multi])


def test_float32_half_sweep_matches_dense_formula(implicit_matrix, rel_err):
    lam, alpha, k = 0.1, 3.0, 4
    R64 = check_user_items(implicit_matrix, F64)
    R32 = check_user_items(implicit_matrix, np.dtype(np.float32))
    Y = random_factors(R64.shape[1], k, seed=5).astype(np.float32)
    X = np.zeros((R64.shape[0], k), dtype=np.float32)
    cpp_half_sweep(R32, Y, X, lam=lam, alpha=alpha)
    assert X.dtype == np.float32
    dense = R64.toarray()
    expected = np.array([dense_row_solve(dense[u], Y.astype(np.float64), lam, alpha)
                         if dense[u].any() else np.zeros(k) for u in range(R64.shape[0])])
    assert rel_err(X, expected) <= 1e-4


def test_rows_with_only_negative_entries_solve_to_zero():
    """p = 0 for every cell of such a row, so b = Yᵀ C_u p_u = 0 and the exact solution is 0."""
    dense = np.array([[-1.0, -3.0, 0.0, -0.5],
                      [2.0, 0.0, -1.0, 0.0],
                      [0.0, 0.0, -7.0, 0.0]])
    R = check_user_items(dense, F64)
    Y = random_factors(4, 3, seed=9)
    X = np.ones((3, 3))
    cpp_half_sweep(R, Y, X, lam=0.1, alpha=10.0)
    assert np.all(X[0] == 0.0) and np.all(X[2] == 0.0)
    assert np.any(X[1] != 0.0)
    np.testing.assert_allclose(X[1], dense_row_solve(dense[1], Y, 0.1, 10.0), rtol=1e-10)


def test_negative_entry_confidence_uses_absolute_value():
    """r and −r get the same confidence; only the preference differs. So the system matrix of a
    row with a disliked item equals that of the row with the value liked, and the right-hand
    side just drops that item."""
    alpha, lam, k = 4.0, 0.2, 3
    Y = random_factors(5, k, seed=11)
    liked = np.array([[2.0, 1.0, 0.0, 0.0, 3.0]])
    disliked = np.array([[-2.0, 1.0, 0.0, 0.0, 3.0]])
    x_liked, x_disliked = np.zeros((1, k)), np.zeros((1, k))
    cpp_half_sweep(check_user_items(liked, F64), Y, x_liked, lam=lam, alpha=alpha)
    cpp_half_sweep(check_user_items(disliked, F64), Y, x_disliked, lam=lam, alpha=alpha)
    c = 1.0 + alpha * np.abs(liked[0])
    A = Y.T @ np.diag(c) @ Y + lam * np.eye(k)
    np.testing.assert_allclose(x_liked[0], np.linalg.solve(A, Y.T @ (c * (liked[0] > 0))),
                               rtol=1e-10)
    np.testing.assert_allclose(x_disliked[0], np.linalg.solve(A, Y.T @ (c * (disliked[0] > 0))),
                               rtol=1e-10)
    assert not np.allclose(x_liked, x_disliked)


# --------------------------------------------------------------------------------- the loss
@pytest.mark.parametrize("nu", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_loss_matches_dense_objective(small_matrix, nu, backend):
    lam, alpha = 0.15, 7.0
    model = mfkit.ALS(factors=4, iterations=3, regularization=lam, alpha=alpha,
                      regularization_exponent=nu, dtype=np.float64, random_state=1,
                      solver="cholesky", backend=backend, calculate_training_loss=True,
                      num_threads=1)
    model.fit(small_matrix, show_progress=False)
    dense = small_matrix.toarray()
    expected = dense_objective(dense, model.user_factors, model.item_factors, lam, alpha, nu)
    assert model.loss(small_matrix) == pytest.approx(expected, rel=1e-10)
    assert model.loss_history[-1] == pytest.approx(expected, rel=1e-10)


def test_loss_of_arbitrary_factors_matches_dense_objective(small_matrix):
    """als_loss on factors that are not an ALS solution (non-zero empty rows, large values)."""
    lam, alpha, nu, k = 0.4, 2.5, 0.5, 3
    R = check_user_items(small_matrix, F64)
    X = random_factors(R.shape[0], k, seed=21, scale=1.0)
    Y = random_factors(R.shape[1], k, seed=22, scale=1.0)
    got = mfkit._cpp.als_loss(csr_arrays(R), X, Y, regularization=lam,
                              regularization_exponent=nu, alpha=alpha, num_threads=2)
    expected = dense_objective(R.toarray(), X, Y, lam, alpha, nu)
    assert got == pytest.approx(expected, rel=1e-11)


def test_float32_loss_matches_dense_objective(small_matrix):
    model = mfkit.ALS(factors=4, iterations=2, dtype=np.float32, random_state=2,
                      calculate_training_loss=True, num_threads=2)
    model.fit(small_matrix, show_progress=False)
    expected = dense_objective(small_matrix.toarray(), model.user_factors.astype(np.float64),
                               model.item_factors.astype(np.float64), model.regularization,
                               model.alpha)
    assert model.loss_history[-1] == pytest.approx(expected, rel=1e-4)
    assert model.loss(small_matrix) == pytest.approx(expected, rel=1e-4)


# ------------------------------------------------------------------------------ convergence
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [0.5, 5.0, 40.0])
@pytest.mark.parametrize("nu", [0.0, 1.0])
def test_exact_als_never_increases_objective(matrix_factory, seed, alpha, nu):
    matrix = matrix_factory(seed=seed)
    model = mfkit.ALS(factors=6, iterations=10, alpha=alpha, regularization=0.1,
                      regularization_exponent=nu, solver="cholesky", dtype=np.float64,
                      random_state=seed, calculate_training_loss=True, num_threads=1)
    model.fit(matrix, show_progress=False)
    history = np.array(model.loss_history)
    assert len(history) == 10 and np.all(np.isfinite(history)) and np.all(history > 0)
    increases = history[1:] - history[:-1]
    assert np.all(increases <= 1e-9 * np.abs(history[:-1])), history
    assert history[-1] < history[0]


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_every_half_sweep_decreases_objective(small_matrix, solver):
    """Each half-sweep minimizes (cholesky) or decreases (warm-started CG) every row's convex
    quadratic, so the objective can only go down, half-sweep by half-sweep."""
    lam, alpha, k = 0.1, 10.0, 5
    R = check_user_items(small_matrix, F64)
    by_user, by_item = csr_arrays(R), csr_arrays(R.T.tocsr())
    X = random_factors(R.shape[0], k, seed=3, scale=0.05)
    Y = random_factors(R.shape[1], k, seed=4, scale=0.05)

    def loss():
        return mfkit._cpp.als_loss(by_user, X, Y, regularization=lam, regularization_exponent=0.0,
                                   alpha=alpha, num_threads=1)

    previous = loss()
    for _ in range(6):
        for matrix, fixed, solved in ((by_user, Y, X), (by_item, X, Y)):
            mfkit._cpp.als_half_sweep(matrix, fixed, solved, regularization=lam,
                                      regularization_exponent=0.0, alpha=alpha, solver=solver,
                                      cg_steps=2, num_threads=1)
            current = loss()
            assert current <= previous * (1 + 1e-9)
            previous = current


@pytest.mark.parametrize("k", [3, 8])
def test_cg_with_many_steps_reaches_cholesky_solution(implicit_matrix, k, rel_err):
    lam, alpha = 0.1, 5.0
    R = check_user_items(implicit_matrix, F64)
    Y = random_factors(R.shape[1], k, seed=k)
    start = random_factors(R.shape[0], k, seed=k + 1, scale=0.05)
    exact, cg = start.copy(), start.copy()
    cpp_half_sweep(R, Y, exact, lam=lam, alpha=alpha, solver="cholesky")
    cpp_half_sweep(R, Y, cg, lam=lam, alpha=alpha, solver="cg", cg_steps=50)
    assert rel_err(cg, exact) <= 1e-8
    # ... whereas a single CG step from this start is visibly not there yet.
    one_step = start.copy()
    cpp_half_sweep(R, Y, one_step, lam=lam, alpha=alpha, solver="cg", cg_steps=1)
    assert rel_err(one_step, exact) > 1e-3


# ----------------------------------------------------------------------------- negative data
def two_taste_matrix():
    """Users 0-9 like items 0-4, users 10-19 like items 5-9 (value 3)."""
    dense = np.zeros((20, 10))
    dense[:10, :5] = 3.0
    dense[10:, 5:] = 3.0
    return dense


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_negative_entry_is_scored_as_a_dislike(seed):
    params = dict(factors=4, iterations=15, alpha=20.0, regularization=0.1, solver="cholesky",
                  dtype=np.float64, random_state=seed, num_threads=1)
    disliked = two_taste_matrix()
    disliked[0, 0] = -3.0  # user 0 dislikes an item its whole group likes
    missing = two_taste_matrix()
    missing[0, 0] = 0.0  # ... or has simply not seen it

    m_dis = mfkit.ALS(**params).fit(sp.csr_matrix(disliked), show_progress=False)
    m_mis = mfkit.ALS(**params).fit(sp.csr_matrix(missing), show_progress=False)
    score_dis = m_dis.user_factors[0] @ m_dis.item_factors[0]
    score_mis = m_mis.user_factors[0] @ m_mis.item_factors[0]
    liked_scores = m_dis.item_factors[1:5] @ m_dis.user_factors[0]

    assert score_dis < liked_scores.min()
    assert score_dis < score_mis
    assert abs(score_dis) < 0.25  # pulled towards p = 0 with high confidence
