"""Implicit-feedback ALS in plain numpy (Hu, Koren & Volinsky, ICDM 2008).

Objective:  Σ_{u,i} c_ui (p_ui − x_uᵀy_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²
with p = [r > 0], c = 1 + α|r| for a stored value r (unstored cells: p = 0, c = 1) and
λ_row = λ · n_row^ν, n_row the number of stored entries of the row (ν = 0: the plain form).
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


def row_regularization(regularization: float, exponent: float, count: int) -> float:
    return regularization if exponent == 0 else regularization * count**exponent


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
                   cg_steps, num_threads=1) -> None:
    """:func:`als_half_sweep` with YᵀY given."""
    dtype = solved.dtype
    Y = fixed
    YtY = fixed_gram
    k = Y.shape[1]
    for u in range(matrix.shape[0]):
        items, r = _row(matrix, u)
        if len(items) == 0:  # b = 0, so the exact solution is 0
            solved[u] = 0
            continue
        lam = dtype.type(row_regularization(regularization, regularization_exponent, len(items)))
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
        else:
            solved[u] = _conjugate_gradient(YtY, lam, Yu, c, cp, solved[u].copy(), cg_steps)


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
             regularization, regularization_exponent, alpha, num_threads=1) -> float:
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
    for factors, counts in ((X, user_counts), (Y, item_counts)):
        weights = np.array([row_regularization(regularization, regularization_exponent, n)
                            for n in counts])
        loss += np.sum(weights * np.einsum("ik,ik->i", factors, factors))
    return float(loss)
