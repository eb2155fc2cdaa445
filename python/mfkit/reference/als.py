"""Implicit-feedback ALS in plain numpy (Hu, Koren & Volinsky, ICDM 2008).

Objective:  Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²
with p = [r > 0], c = 1 + α|r| for a stored value r (unstored cells: p = 0, c = 1) and

    λ_row = λ · (n_row + offset)^ν                       (ν = 0: the plain form λ)

where n_row counts the row's stored entries and the regularization scheme sets the offset
(:func:`regularization_offset`): 0 for ``"count"`` (λ·n^ν), N/α for ``"frequency"``, N the
number of rows of the other side. The latter is the frequency-scaled regularization of Rendle et
al. (RecSys 2022), λ·(n + α₀·N)^ν, with their unobserved weight α₀ = 1/α: their loss
Σ_observed (1 − s)² + α₀ Σ_all s² weighs an observed pair 1 + α₀ and an unobserved one α₀, which
up to the factor α₀ is mfkit's 1 + α and 1 for binary data (README, "Regularization schemes",
derives the full mapping).

Solvers of a row's system A x = b, A = YᵀY + Yᵀ(C_u − I)Y + λ_u I, b = YᵀC_u p_u: "cholesky"
(exact), "cg" (conjugate gradient steps warm-started from x) and "block" (iALS++'s subspace
descent, Rendle et al. 2021: exact solves of b×b blocks of coordinates, the others held fixed).
"""
from __future__ import annotations

import numpy as np

from .._containers import CsrArrays
from ..exceptions import NumericalError

# CG stops early once the squared residual norm falls below this (same constant as the C++ core).
CG_TINY = 1e-20


def confidence(r: np.ndarray, alpha: float) -> np.ndarray:
    return 1 + alpha * np.abs(r)


def preference(r: np.ndarray) -> np.ndarray:
    return (r > 0).astype(r.dtype)


def row_regularization(regularization: float, exponent: float, count, offset=0.0):
    """λ_row = λ·(n + offset)^ν for a row with ``count`` = n stored entries (arrays broadcast)."""
    return regularization if exponent == 0 else regularization * (count + offset)**exponent


def regularization_offset(scheme: str, alpha: float, other_rows: int) -> float:
    """The offset of :func:`row_regularization`: 0 for ``"count"``; α₀·N = N/α for
    ``"frequency"`` (Rendle et al. 2022), N = ``other_rows``, the rows of the other side."""
    if scheme == "count":
        return 0.0
    if not alpha > 0:
        raise ValueError("regularization_scheme='frequency' needs alpha > 0 (the weight of an "
                         "unobserved pair, 1/alpha, is infinite at alpha=0); use a positive "
                         "alpha or regularization_scheme='count'")
    return other_rows / alpha


def gram(factors: np.ndarray, *, num_threads: int = 1) -> np.ndarray:
    return factors.T @ factors


def _row(matrix: CsrArrays, u: int):
    start, end = matrix.indptr[u], matrix.indptr[u + 1]
    return matrix.indices[start:end], matrix.data[start:end]


def als_half_sweep(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, **options) -> None:
    """Solve each row x_u of ``solved`` in place from
    (YᵀY + Yᵀ(C_u − I)Y + λ_u I) x_u = Yᵀ C_u p_u."""
    als_solve_rows(matrix, fixed, gram(fixed), solved, **options)


def als_solve_rows(matrix: CsrArrays, fixed: np.ndarray, fixed_gram: np.ndarray,
                   solved: np.ndarray, *, regularization, regularization_exponent, alpha, solver,
                   cg_steps, regularization_scheme="count", block_size=32, block_sweeps=1,
                   num_threads=1) -> None:
    """:func:`als_half_sweep` with YᵀY given.

    ``cg_steps``: CG steps per row (``solver="cg"``); ``block_size`` / ``block_sweeps``: the
    coordinates per block (at most the factors: larger values mean one block) and the passes
    over all blocks per row (``solver="block"``).
    """
    if block_size < 1 or block_sweeps < 1:
        raise ValueError("block_size and block_sweeps must be at least 1")
    dtype = solved.dtype
    Y = fixed
    YtY = fixed_gram
    k = Y.shape[1]
    offset = regularization_offset(regularization_scheme, alpha, Y.shape[0])
    for u in range(matrix.shape[0]):
        items, r = _row(matrix, u)
        if len(items) == 0:  # b = 0, so the exact solution is 0
            solved[u] = 0
            continue
        lam = dtype.type(row_regularization(regularization, regularization_exponent, len(items),
                                            offset))
        c = confidence(r, dtype.type(alpha))
        cp = c * preference(r)
        Yu = Y[items]
        if solver == "cholesky":
            A = YtY + Yu.T @ ((c - 1)[:, None] * Yu) + lam * np.eye(k, dtype=dtype)
            b = Yu.T @ cp
            try:
                solved[u] = np.linalg.solve(A, b)
            except np.linalg.LinAlgError:
                raise NumericalError(f"ALS: the system for row {u} is singular; "
                                     "increase regularization") from None
        elif solver == "block":
            solved[u] = _block_descent(YtY, lam, Yu, c, cp, solved[u].copy(), block_size,
                                       block_sweeps, u)
        else:
            solved[u] = _conjugate_gradient(YtY, lam, Yu, c, cp, solved[u].copy(), cg_steps)


def _block_descent(YtY, lam, Yu, c, cp, x, block_size, sweeps, row):
    """iALS++'s subspace descent (Rendle et al., "iALS++", 2021), warm-started at x.

    For each block B of consecutive coordinates in turn (the last one shorter when b does not
    divide k), x_B becomes the exact minimizer with the other coordinates fixed, in residual form:
        x_B += A_BB⁻¹ (b − A x)_B,   A_BB = (YᵀY)_BB + Y_BᵀD Y_B + λI   (D = C_u − I)
    with the predictions s = Y_u x of the row's items kept up to date (O(n·b) per block).
    """
    k = len(x)
    s = Yu @ x
    d = c - 1
    for _ in range(sweeps):
        for first in range(0, k, block_size):
            block = slice(first, min(first + block_size, k))
            YB = Yu[:, block]
            A = YtY[block, block] + YB.T @ (d[:, None] * YB) + lam * np.eye(YB.shape[1],
                                                                          dtype=x.dtype)
            residual = YB.T @ (cp - d * s) - YtY[block] @ x - lam * x[block]
            try:
                step = np.linalg.solve(A, residual)
            except np.linalg.LinAlgError:
                raise NumericalError(f"ALS: the system for row {row} is singular; "
                                     "increase regularization") from None
            x[block] += step
            s += YB @ step
    return x


def _conjugate_gradient(YtY, lam, Yu, c, cp, x, steps):
    """CG warm-started at x (Takács, Pilászy & Tikk, RecSys 2011); A is applied, never formed."""

    def apply_A(v):
        return YtY @ v + lam * v + Yu.T @ ((c - 1) * (Yu @ v))

    r = Yu.T @ cp - apply_A(x)
    p = r.copy()
    rs = r @ r
    for _ in range(steps):
        if rs < CG_TINY:
            break
        Ap = apply_A(p)
        step = rs / (p @ Ap)
        x += step * p
        r -= step * Ap
        rs_new = r @ r
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def als_loss(matrix: CsrArrays, user_factors: np.ndarray, item_factors: np.ndarray, *,
             regularization, regularization_exponent, alpha, regularization_scheme="count",
             num_threads=1) -> float:
    """The objective above without forming the dense m×n matrix.

    Σ over all cells of (x_uᵀy_i)² equals Σ_u x_uᵀ(YᵀY)x_u; each stored cell then replaces its
    own term by c(p − s)².
    """
    X = user_factors.astype(np.float64)
    Y = item_factors.astype(np.float64)
    loss = np.einsum("uk,kl,ul->", X, Y.T @ Y, X)
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    r = matrix.data.astype(np.float64)
    s = np.einsum("ek,ek->e", X[rows], Y[matrix.indices])
    loss += np.sum(confidence(r, alpha) * (preference(r) - s) ** 2 - s**2)
    user_counts = np.diff(matrix.indptr)
    item_counts = np.bincount(matrix.indices, minlength=matrix.shape[1])
    for factors, counts, other in ((X, user_counts, len(Y)), (Y, item_counts, len(X))):
        offset = regularization_offset(regularization_scheme, alpha, other)
        weights = np.array([row_regularization(regularization, regularization_exponent, n, offset)
                            for n in counts])
        loss += np.sum(weights * np.einsum("ik,ik->i", factors, factors))
    return float(loss)
