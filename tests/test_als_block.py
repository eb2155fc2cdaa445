"""ALS ``solver="block"``: iALS++'s subspace descent (Rendle et al. 2021), checked against dense
formulas written independently here.

A row's objective is the convex quadratic f(x) = xᵀA x − 2bᵀx (+ const) with
A = Yᵀ C_u Y + λ_u I and b = Yᵀ C_u p_u (C_u the FULL diagonal of confidences). One block step
sets x_B to the exact minimizer with the other coordinates fixed: A_BB x_B = b_B − A_{B,¬B} x_¬B.
"""
from __future__ import annotations

import numpy as np
import pytest
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


def dense_system(dense_row, Y, lam, alpha):
    """A and b of one row, from the full m-long confidence and preference vectors."""
    c = 1.0 + alpha * np.abs(dense_row)
    p = (dense_row > 0).astype(np.float64)
    return Y.T @ (c[:, None] * Y) + lam * np.eye(Y.shape[1]), Y.T @ (c * p)


def dense_block_descent(A, b, x, block_size, sweeps):
    """Block coordinate descent on xᵀAx − 2bᵀx from x, written from the definition."""
    x = x.copy()
    k = len(x)
    for _ in range(sweeps):
        for first in range(0, k, block_size):
            B = np.arange(first, min(first + block_size, k))
            others = np.setdiff1d(np.arange(k), B)
            x[B] = np.linalg.solve(A[np.ix_(B, B)], b[B] - A[np.ix_(B, others)] @ x[others])
    return x


def half_sweep(backend, R, Y, X, *, lam, alpha, solver="block", block_size=4, block_sweeps=1,
               nu=0.0, num_threads=1, scheme="count"):
    BACKENDS[backend].als_half_sweep(
        csr_arrays(R), Y, X, regularization=lam, regularization_exponent=nu, alpha=alpha,
        solver=solver, cg_steps=3, block_size=block_size, block_sweeps=block_sweeps,
        num_threads=num_threads, regularization_scheme=scheme)


def objective(R, X, Y, lam, alpha):
    return mfkit._cpp.als_loss(csr_arrays(R), X, Y, regularization=lam,
                               regularization_exponent=0.0, alpha=alpha, num_threads=1)


# ------------------------------------------------------------------------- the row update
@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("block_size, sweeps", [(1, 1), (3, 1), (4, 2), (5, 3)])
def test_block_steps_are_the_exact_block_minimizers(implicit_matrix, backend, block_size, sweeps):
    """k = 7: blocks of 3 end with a block of 1, blocks of 5 with one of 2."""
    lam, alpha, k = 0.2, 4.0, 7
    R = check_user_items(implicit_matrix, F64)
    dense = R.toarray()
    Y = random_factors(R.shape[1], k, seed=5)
    start = random_factors(R.shape[0], k, seed=6, scale=0.1)
    X = start.copy()
    half_sweep(backend, R, Y, X, lam=lam, alpha=alpha, block_size=block_size,
               block_sweeps=sweeps)
    for u in range(R.shape[0]):
        if R.indptr[u] == R.indptr[u + 1]:
            assert np.all(X[u] == 0.0)  # b = 0: the exact solution
            continue
        A, b = dense_system(dense[u], Y, lam, alpha)
        expected = dense_block_descent(A, b, start[u], block_size, sweeps)
        np.testing.assert_allclose(X[u], expected, rtol=1e-10, atol=1e-12, err_msg=f"row {u}")


@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("block_size", [8, 9, 1000])
def test_one_block_is_the_exact_solve(implicit_matrix, backend, block_size):
    """block_size >= factors (clamped): one block, the closed form A⁻¹b whatever the start."""
    lam, alpha, k = 0.1, 6.0, 8
    R = check_user_items(implicit_matrix, F64)
    dense = R.toarray()
    Y = random_factors(R.shape[1], k, seed=1)
    X = random_factors(R.shape[0], k, seed=2)
    half_sweep(backend, R, Y, X, lam=lam, alpha=alpha, block_size=block_size)
    for u in range(R.shape[0]):
        if R.indptr[u] < R.indptr[u + 1]:
            A, b = dense_system(dense[u], Y, lam, alpha)
            np.testing.assert_allclose(X[u], np.linalg.solve(A, b), rtol=1e-10, atol=1e-12)


def test_more_sweeps_converge_to_the_cholesky_solution(implicit_matrix, rel_err):
    lam, alpha, k = 0.1, 5.0, 12
    R = check_user_items(implicit_matrix, F64)
    Y = random_factors(R.shape[1], k, seed=3)
    start = random_factors(R.shape[0], k, seed=4, scale=0.05)
    exact = start.copy()
    half_sweep("cpp", R, Y, exact, lam=lam, alpha=alpha, solver="cholesky")
    errors = []
    for sweeps in (1, 3, 10, 1000):  # linear convergence, slow here (λ small against YᵀY)
        X = start.copy()
        half_sweep("cpp", R, Y, X, lam=lam, alpha=alpha, block_size=4, block_sweeps=sweeps)
        errors.append(rel_err(X, exact))
    assert errors[0] > 1e-3  # one sweep of small blocks is visibly not there yet
    assert errors[0] > errors[1] > errors[2]
    assert errors[3] <= 1e-10


def test_every_half_sweep_decreases_objective(small_matrix):
    lam, alpha, k = 0.1, 10.0, 9
    R = check_user_items(small_matrix, F64)
    Rt = check_user_items(small_matrix.T.tocsr(), F64)
    X = random_factors(R.shape[0], k, seed=3, scale=0.05)
    Y = random_factors(R.shape[1], k, seed=4, scale=0.05)
    previous = objective(R, X, Y, lam, alpha)
    for _ in range(6):
        for matrix, fixed, solved in ((R, Y, X), (Rt, X, Y)):
            half_sweep("cpp", matrix, fixed, solved, lam=lam, alpha=alpha, block_size=4)
            current = objective(R, X, Y, lam, alpha)
            assert current < previous
            previous = current


# ------------------------------------------------------------------------------ the model
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)],
                         ids=["f64", "f32"])
@pytest.mark.parametrize("block_size, sweeps, nu", [(1, 1, 0.0), (3, 2, 0.5), (8, 1, 1.0)])
def test_backends_agree(implicit_matrix, dtype, tol, block_size, sweeps, nu, rel_err):
    assert_backends_agree(implicit_matrix, tol, rel_err, factors=8, iterations=4,
                          solver="block", block_size=block_size, block_sweeps=sweeps,
                          regularization_exponent=nu, dtype=dtype, random_state=11, alpha=3.0,
                          regularization=0.1, num_threads=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_objective_decreases_every_iteration(small_matrix, dtype):
    model = mfkit.ALS(factors=16, iterations=8, solver="block", block_size=5, dtype=dtype,
                      regularization=0.5, alpha=5.0, random_state=0, num_threads=1,
                      calculate_training_loss=True).fit(small_matrix, show_progress=False)
    history = np.array(model.loss_history)
    assert np.all(np.diff(history) < 0), history


def test_deterministic_and_independent_of_threads(matrix_factory):
    matrix = matrix_factory(seed=4, n_users=400, n_items=300, density=0.05)
    fits = [mfkit.ALS(factors=24, iterations=3, solver="block", block_size=7, random_state=5,
                      num_threads=threads).fit(matrix, show_progress=False)
            for threads in (1, 1, 2, 3)]
    for other in fits[1:]:
        assert np.array_equal(fits[0].user_factors, other.user_factors)
        assert np.array_equal(fits[0].item_factors, other.item_factors)


def test_block_model_serves_with_exact_fold_ins(small_matrix):
    """Fold-ins (recalculate_user, partial fits) solve exactly whatever the fit's solver."""
    lam, alpha = 0.3, 4.0
    model = mfkit.ALS(factors=6, iterations=5, solver="block", block_size=2, dtype=np.float64,
                      regularization=lam, alpha=alpha, random_state=1)
    model.fit(small_matrix, show_progress=False)
    users = np.arange(6)
    rows = check_user_items(small_matrix[users], F64)
    folded = model._fold_in_users(rows)
    for u in users:
        if rows.indptr[u] < rows.indptr[u + 1]:
            A, b = dense_system(rows[u].toarray()[0], model.item_factors, lam, alpha)
            np.testing.assert_allclose(folded[u], np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)
    ids, _ = model.recommend(users, small_matrix[users], N=3, recalculate_user=True)
    assert ids.shape == (6, 3) and np.all(ids >= 0)
    model.partial_fit_users([0], small_matrix[0])
    np.testing.assert_allclose(model.user_factors[0], folded[0], rtol=1e-12)


def test_save_load_keeps_the_new_parameters(tmp_path, small_matrix):
    model = mfkit.ALS(factors=6, iterations=2, solver="block", block_size=4, block_sweeps=2,
                      regularization_scheme="frequency", regularization_exponent=0.5,
                      random_state=0).fit(small_matrix, show_progress=False)
    path = tmp_path / "block.npz"
    model.save(path)
    loaded = mfkit.load(path)
    assert loaded.get_params() == model.get_params()
    assert loaded.solver == "block" and loaded.block_size == 4 and loaded.block_sweeps == 2
    assert loaded.regularization_scheme == "frequency"
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    assert loaded.loss(small_matrix) == model.loss(small_matrix)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name, value", [("block_size", 0), ("block_sweeps", 0),
                                         ("block_size", -3), ("block_size", 2.5)])
def test_bad_block_arguments_are_rejected(small_matrix, name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        mfkit.ALS(solver="block", **{name: value}).fit(small_matrix, show_progress=False)


def test_unknown_solver_lists_block(small_matrix):
    with pytest.raises(ValueError, match="block"):
        mfkit.ALS(solver="blocks").fit(small_matrix, show_progress=False)


@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("name", ["block_size", "block_sweeps"])
def test_kernels_reject_bad_block_arguments(backend, name):
    R = check_user_items(np.eye(3), F64)
    Y, X = np.ones((3, 2)), np.zeros((3, 2))
    arguments = {"block_size": 2, "block_sweeps": 1, name: 0}
    with pytest.raises(ValueError, match=name):
        half_sweep(backend, R, Y, X, lam=0.1, alpha=1.0, **arguments)
