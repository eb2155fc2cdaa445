"""ALS ``regularization_scheme="frequency"``: Rendle et al. (RecSys 2022)'s λ·(n + α₀·N)^ν with
α₀ = 1/alpha, checked against dense formulas and against the paper's own loss.

Rendle et al.:  L_R(W, H) = Σ_observed (1 − w_uᵀh_i)² + α₀ Σ_all (w_uᵀh_i)²
                            + λ_R (Σ_u (n_u + α₀|I|)^ν ‖w_u‖² + Σ_i (n_i + α₀|U|)^ν ‖h_i‖²)
mfkit's documented mapping (binary data): alpha = 1/α₀, regularization = λ_R (1 + α₀)/α₀, same ν,
W = X / √(1 + α₀), H = Y / √(1 + α₀).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_backends_agree

import mfkit
import mfkit._cpp
import mfkit.reference
from mfkit._csr import csr_arrays
from mfkit._validation import check_user_items

F64 = np.dtype(np.float64)
BACKENDS = {"cpp": mfkit._cpp, "reference": mfkit.reference}


def random_factors(rows, k, seed, scale=0.3):
    return np.random.default_rng(seed).standard_normal((rows, k)) * scale


def frequency_weights(dense, lam, alpha, nu):
    """λ·(n + N/alpha)^ν for the rows (users) and columns (items) of ``dense``."""
    n_users, n_items = dense.shape
    users = lam * ((dense != 0).sum(axis=1) + n_items / alpha) ** nu
    items = lam * ((dense != 0).sum(axis=0) + n_users / alpha) ** nu
    return users, items


def binary_matrix(seed=0, shape=(30, 20), density=0.15):
    matrix = sp.random(*shape, density=density, random_state=seed, format="csr")
    matrix.data[:] = 1.0
    return matrix


@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("nu", [0.5, 1.0])
def test_half_sweep_matches_dense_formula(implicit_matrix, backend, nu):
    lam, alpha, k = 0.02, 3.0, 5
    R = check_user_items(implicit_matrix, F64)
    dense = R.toarray()
    Y = random_factors(R.shape[1], k, seed=2)
    X = np.zeros((R.shape[0], k))
    BACKENDS[backend].als_half_sweep(
        csr_arrays(R), Y, X, regularization=lam, regularization_exponent=nu, alpha=alpha,
        solver="cholesky", cg_steps=1, num_threads=1, regularization_scheme="frequency")
    user_weights, _ = frequency_weights(dense, lam, alpha, nu)
    for u in range(R.shape[0]):
        if R.indptr[u] == R.indptr[u + 1]:
            continue
        c = 1 + alpha * np.abs(dense[u])
        p = (dense[u] > 0).astype(float)
        A = Y.T @ (c[:, None] * Y) + user_weights[u] * np.eye(k)
        np.testing.assert_allclose(X[u], np.linalg.solve(A, Y.T @ (c * p)), rtol=1e-10,
                                   atol=1e-12)
    # The offset N/alpha = 40/3 really changes the answer against λ·n^ν.
    counted = np.zeros_like(X)
    BACKENDS[backend].als_half_sweep(
        csr_arrays(R), Y, counted, regularization=lam, regularization_exponent=nu, alpha=alpha,
        solver="cholesky", cg_steps=1, num_threads=1)
    assert not np.allclose(X, counted)


@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_loss_matches_dense_objective(small_matrix, backend, rel_err):
    lam, alpha, nu, k = 0.1, 2.0, 0.7, 4
    R = check_user_items(small_matrix, F64)
    dense = R.toarray()
    X = random_factors(R.shape[0], k, seed=1)
    Y = random_factors(R.shape[1], k, seed=2)
    c = 1 + alpha * np.abs(dense)
    p = (dense > 0).astype(float)
    user_weights, item_weights = frequency_weights(dense, lam, alpha, nu)
    expected = (np.sum(c * (p - X @ Y.T) ** 2) + user_weights @ np.sum(X**2, axis=1)
                + item_weights @ np.sum(Y**2, axis=1))
    got = BACKENDS[backend].als_loss(csr_arrays(R), X, Y, regularization=lam,
                                     regularization_exponent=nu, alpha=alpha, num_threads=1,
                                     regularization_scheme="frequency")
    assert rel_err(got, expected) <= 1e-12


@pytest.mark.parametrize("alpha0, lam_r, nu", [(0.5, 0.1, 1.0), (0.05, 0.02, 0.5)])
def test_mapping_to_rendle_et_al(alpha0, lam_r, nu, rel_err):
    """The documented mapping: mfkit's row solve, scaled, is the row minimizer of the paper's
    loss, and the two objectives differ by the stated factor and constant."""
    R = binary_matrix()
    dense = R.toarray()
    observed = dense != 0
    n_users, n_items = dense.shape
    k, scale = 4, np.sqrt(1 + alpha0)
    params = dict(alpha=1 / alpha0, regularization=lam_r * (1 + alpha0) / alpha0,
                  regularization_exponent=nu, regularization_scheme="frequency")
    Y = random_factors(n_items, k, seed=3)
    X = np.zeros((n_users, k))
    mfkit._cpp.als_half_sweep(csr_arrays(check_user_items(R, F64)), Y, X, solver="cholesky",
                              cg_steps=1, num_threads=1, **params)
    H = Y / scale
    for u in range(n_users):
        # argmin_w Σ_{i∈I_u} (1 − wᵀh_i)² + α₀ Σ_i (wᵀh_i)² + λ_R (n_u + α₀|I|)^ν ‖w‖²
        Ho = H[observed[u]]
        weight = lam_r * (observed[u].sum() + alpha0 * n_items) ** nu
        w = np.linalg.solve(Ho.T @ Ho + alpha0 * H.T @ H + weight * np.eye(k), Ho.sum(axis=0))
        np.testing.assert_allclose(X[u] / scale, w, rtol=1e-10, atol=1e-13)

    X = random_factors(n_users, k, seed=4)
    W = X / scale
    S = W @ H.T
    user_counts, item_counts = observed.sum(axis=1), observed.sum(axis=0)
    rendle = (np.sum((1 - S[observed]) ** 2) + alpha0 * np.sum(S**2)
              + lam_r * (((user_counts + alpha0 * n_items) ** nu) @ np.sum(W**2, axis=1)
                         + ((item_counts + alpha0 * n_users) ** nu) @ np.sum(H**2, axis=1)))
    ours = mfkit._cpp.als_loss(csr_arrays(check_user_items(R, F64)), X, Y, num_threads=1,
                               **params)
    expected = alpha0 / (1 + alpha0) ** 2 * ours + alpha0 * observed.sum() / (1 + alpha0)
    assert rel_err(rendle, expected) <= 1e-12


@pytest.mark.parametrize("solver", ["cg", "cholesky", "block"])
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-7), (np.float32, 1e-4)],
                         ids=["f64", "f32"])
def test_backends_agree(implicit_matrix, solver, dtype, tol, rel_err):
    cpp = assert_backends_agree(implicit_matrix, tol, rel_err, factors=6, iterations=4,
                                solver=solver, block_size=4, dtype=dtype, regularization=0.01,
                                alpha=3.0, regularization_exponent=0.8,
                                regularization_scheme="frequency", random_state=2, num_threads=1)
    history = np.array(cpp.loss_history)
    if solver != "cg" or dtype == np.float64:
        assert np.all(np.diff(history) <= 1e-6 * history[1:]), history


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_without_exponent_equals_count_scheme_bit_for_bit(small_matrix, dtype):
    fits = [mfkit.ALS(factors=5, iterations=3, dtype=dtype, random_state=0, num_threads=1,
                      regularization_scheme=scheme).fit(small_matrix, show_progress=False)
            for scheme in ("count", "frequency")]
    assert np.array_equal(fits[0].user_factors, fits[1].user_factors)
    assert np.array_equal(fits[0].item_factors, fits[1].item_factors)


def test_explain_uses_the_frequency_regularization(small_matrix):
    model = mfkit.ALS(factors=5, iterations=3, dtype=np.float64, random_state=0, alpha=2.0,
                      regularization=0.5, regularization_exponent=0.5,
                      regularization_scheme="frequency").fit(small_matrix, show_progress=False)
    row = small_matrix[1]
    score, _, _ = model.explain(1, row, 3)
    folded = model._fold_in_users(check_user_items(row, F64))[0]
    assert score == pytest.approx(float(folded @ model.item_factors[3]), rel=1e-9)


def test_frequency_scheme_needs_positive_alpha(small_matrix):
    with pytest.raises(ValueError, match="alpha > 0"):
        mfkit.ALS(alpha=0.0, regularization_scheme="frequency").fit(small_matrix,
                                                                    show_progress=False)
    with pytest.raises(ValueError, match="regularization_scheme"):
        mfkit.ALS(regularization_scheme="rendle").fit(small_matrix, show_progress=False)


@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_kernels_reject_frequency_without_alpha(backend):
    R = csr_arrays(check_user_items(np.eye(3), F64))
    with pytest.raises(ValueError, match="alpha > 0"):
        BACKENDS[backend].als_half_sweep(
            R, np.ones((3, 2)), np.zeros((3, 2)), regularization=0.1, regularization_exponent=1.0,
            alpha=0.0, solver="cg", cg_steps=1, num_threads=1, regularization_scheme="frequency")


def test_overflowing_regularization_is_rejected(small_matrix):
    """The offset N/alpha enters the overflow check: with alpha tiny it dominates n."""
    model = mfkit.ALS(alpha=1e-30, regularization_exponent=1.5,
                      regularization_scheme="frequency")
    with pytest.raises(ValueError, match="regularization_exponent"):
        model.fit(small_matrix, show_progress=False)
