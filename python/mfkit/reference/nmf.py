"""Non-negative matrix factorization in plain numpy: the twin of ``cpp/include/mfkit/nmf.hpp``.

Objective (scikit-learn's NMF, penalties already scaled by the caller)::

    D(X, W H) + l1_W·ΣW + ½·l2_W·‖W‖² + l1_H·ΣH + ½·l2_H·‖H‖²,     W, H ≥ 0

with ``D`` = ½‖X − WH‖² ("frobenius") or the generalized Kullback-Leibler divergence
Σ x·log(x / WH) − x + WH ("kullback-leibler"); with ``missing="ignore"`` ``D`` sums over the
stored entries of ``X`` only.

Every function updates the rows of ``solved`` (``matrix.shape[0]`` × k) with ``fixed``
(``matrix.shape[1]`` × k) constant: ``matrix`` is X for the W step and Xᵀ for the H step, whose
rows are the rows of Hᵀ.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._containers import CsrArrays

# scikit-learn's EPSILON: float32 machine epsilon, whatever the dtype.
EPSILON = float(np.finfo(np.float32).eps)
# H entries below this are set to 0 after a KL multiplicative step (scikit-learn does so).
FLUSH = float(np.finfo(np.float64).eps)


def penalty_weights(alpha: float, l1_ratio: float, other_side: int):
    """``(l1, l2)`` of one factor: scikit-learn scales α by the size of the *other* dimension
    (n_features for W, n_samples for H)."""
    return alpha * l1_ratio * other_side, alpha * (1.0 - l1_ratio) * other_side


def penalty(factor: np.ndarray, l1: float, l2: float) -> float:
    """``l1·ΣF + ½·l2·‖F‖²`` of one factor, in float64."""
    f64 = factor.astype(np.float64)
    return l1 * float(f64.sum()) + 0.5 * l2 * float(np.sum(f64 * f64))


def _sparse(matrix: CsrArrays) -> sp.csr_matrix:
    return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)


def _rows_of_entries(matrix: CsrArrays) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _entry_products(matrix: CsrArrays, W: np.ndarray, F: np.ndarray) -> np.ndarray:
    """(W Fᵀ) at the stored entries, in storage order."""
    return np.einsum("ek,ek->e", W[_rows_of_entries(matrix)], F[matrix.indices])


def csr_matmul(matrix: CsrArrays, dense: np.ndarray, *, num_threads: int = 1) -> np.ndarray:
    """``matrix @ dense``."""
    return np.ascontiguousarray(_sparse(matrix) @ dense, dtype=dense.dtype)


def csr_transpose_matmul(matrix: CsrArrays, column_ptr: np.ndarray, dense: np.ndarray, *,
                         num_threads: int = 1, out=None) -> np.ndarray:
    """``matrix.T @ dense``, into ``out`` if given (``column_ptr``, the transposed indptr, only
    sizes the result)."""
    transposed = _sparse(matrix).T.tocsr()
    if transposed.shape[0] != len(column_ptr) - 1:
        raise ValueError("column_ptr must have n_columns + 1 entries")
    result = np.ascontiguousarray(transposed @ dense, dtype=dense.dtype)
    if out is None:
        return result
    out[...] = result
    return out


def nmf_gram(factors: np.ndarray, *, num_threads: int = 1) -> np.ndarray:
    """FᵀF."""
    return factors.T @ factors


def nmf_cd_update(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, *, l1, l2, missing,
                  num_threads: int = 1, products=None, fixed_gram=None,
                  solved_gram=None) -> float:
    """One sweep of coordinate descent (HALS; Cichocki & Phan 2009) in scikit-learn's order.

    Row ``w`` minimizes ½wᵀGw − (b − l1)ᵀw + ½·l2‖w‖² over w ≥ 0, with b = Σ_j x_j f_j and
    G = FᵀF (``missing="ignore"``: Σ over the row's stored j of f_j f_jᵀ). Components t = 0..k-1
    in turn: grad = (G w)_t + l2·w_t − b_t + l1, w_t ← max(0, w_t − grad / (G_tt + l2)), skipped
    when G_tt + l2 = 0. Returns Σ|projected gradient| (grad, or min(grad, 0) where w_t = 0)
    taken before each update. With ``missing="ignore"``, rows without stored entries become 0.
    With ``missing="zero"``, ``products`` (``matrix @ fixed``) and ``fixed_gram`` (FᵀF) may be
    given to save their computation, and ``solved_gram`` receives ``solvedᵀsolved`` afterwards.
    """
    dtype = solved.dtype
    k = fixed.shape[1]
    B = np.array(_sparse(matrix) @ fixed if products is None else products, dtype=dtype)
    B -= dtype.type(l1)
    violation = 0.0
    if missing == "zero":
        G = (fixed.T @ fixed if fixed_gram is None else np.array(fixed_gram, dtype=dtype)) \
            + dtype.type(l2) * np.eye(k, dtype=dtype)
        for t in range(k):  # every row at once: rows are independent
            grad = solved @ G[t] - B[:, t]
            current = solved[:, t]
            violation += float(np.abs(np.where(current == 0, np.minimum(grad, 0), grad)).sum())
            if G[t, t] != 0:
                solved[:, t] = np.maximum(current - grad / G[t, t], 0)
        _gram_out(solved, solved_gram)
        return violation
    for r in range(matrix.shape[0]):
        start, end = matrix.indptr[r], matrix.indptr[r + 1]
        if start == end:
            solved[r] = 0
            continue
        Fr = fixed[matrix.indices[start:end]]
        G = Fr.T @ Fr + dtype.type(l2) * np.eye(k, dtype=dtype)
        w = solved[r]
        for t in range(k):
            grad = G[t] @ w - B[r, t]
            violation += abs(float(min(grad, 0) if w[t] == 0 else grad))
            if G[t, t] != 0:
                w[t] = max(w[t] - grad / G[t, t], 0)
    return violation


def nmf_mu_update(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, *, beta_loss, l1, l2,
                  missing, flush_below, num_threads: int = 1, products=None, fixed_gram=None,
                  solved_gram=None) -> None:
    """One multiplicative update (Lee & Seung 2001) of every row, as scikit-learn applies it.

    w ← w ∘ numerator / denominator with

    - Frobenius: numerator = Σ_j x_j f_j, denominator = (FᵀF) w (``missing="ignore"``:
      Σ_{stored j} (w·f_j) f_j);
    - KL: numerator = Σ_j x_j / max(w·f_j, ε) f_j, denominator = Σ_j f_j over all j
      (``missing="ignore"``: over the stored j);

    then + l1 and + l2·w (old w) on the denominator when positive, zeros of the denominator
    replaced by ε = float32 eps, and entries of the result below ``flush_below`` set to 0.
    ``products``, ``fixed_gram`` and ``solved_gram`` as in :func:`nmf_cd_update` (Frobenius with
    ``missing="zero"`` only).
    """
    dtype = solved.dtype
    X = _sparse(matrix)
    eps = dtype.type(EPSILON)
    if beta_loss == "frobenius":
        numerator = np.array(X @ fixed if products is None else products, dtype=dtype)
        if missing == "zero":
            denominator = solved @ (fixed.T @ fixed if fixed_gram is None else fixed_gram)
        else:
            scores = _entry_products(matrix, solved, fixed)
            weighted = sp.csr_matrix((scores, matrix.indices, matrix.indptr), shape=matrix.shape)
            denominator = np.asarray(weighted @ fixed, dtype=dtype)
    else:
        scores = _entry_products(matrix, solved, fixed)
        scores = np.where(scores < eps, eps, scores)
        ratio = sp.csr_matrix((matrix.data / scores, matrix.indices, matrix.indptr),
                              shape=matrix.shape)
        numerator = np.asarray(ratio @ fixed, dtype=dtype)
        if missing == "zero":
            denominator = np.broadcast_to(fixed.sum(axis=0), solved.shape).copy()
        else:
            pattern = sp.csr_matrix((np.ones_like(matrix.data), matrix.indices, matrix.indptr),
                                    shape=matrix.shape)
            denominator = np.asarray(pattern @ fixed, dtype=dtype)
    if l1 > 0:
        denominator += dtype.type(l1)
    if l2 > 0:
        denominator = denominator + dtype.type(l2) * solved
    denominator[denominator == 0] = eps
    solved *= numerator / denominator
    if flush_below > 0:
        solved[solved < flush_below] = 0
    if beta_loss == "frobenius" and missing == "zero":
        _gram_out(solved, solved_gram)


def _gram_out(solved: np.ndarray, solved_gram) -> None:
    if solved_gram is not None:
        solved_gram[...] = solved.T @ solved


def nmf_loss(matrix: CsrArrays, W: np.ndarray, fixed: np.ndarray, *, beta_loss, missing,
             num_threads: int = 1) -> float:
    """The data term D(X, W Fᵀ), as scikit-learn's ``_beta_divergence`` computes it.

    Frobenius: ½(‖X‖² + trace(WᵀW FᵀF) − 2 Σ_stored x·(WFᵀ)) without forming WFᵀ
    (``missing="ignore"``: ½ Σ_stored (x − WFᵀ)²). KL: Σ over stored x > ε of
    x·log(x / max(WFᵀ, ε)) − x, plus Σ over all cells of WFᵀ (= Σ_t (ΣW)_t (ΣF)_t), or over the
    stored cells with ``missing="ignore"``.
    """
    x = matrix.data.astype(np.float64)
    scores = _entry_products(matrix, W.astype(np.float64), fixed.astype(np.float64))
    if beta_loss == "frobenius":
        if missing == "ignore":
            return float(np.sum((x - scores) ** 2) / 2)
        W64, F64 = W.astype(np.float64), fixed.astype(np.float64)
        trace = float(np.sum((W64.T @ W64) * (F64.T @ F64)))
        return float((np.dot(x, x) - 2 * np.dot(x, scores) + trace) / 2)
    keep = x > EPSILON
    kept = x[keep]
    total = float(np.sum(kept * np.log(kept / np.maximum(scores[keep], EPSILON))) - kept.sum())
    if missing == "ignore":
        return total + float(scores.sum())
    return total + float(W.astype(np.float64).sum(axis=0) @ fixed.astype(np.float64).sum(axis=0))


def nmf_solve(matrix: CsrArrays, fixed: np.ndarray, fixed_gram, solved: np.ndarray, *, solver,
              beta_loss, l1, l2, missing, max_iter, tol, num_threads: int = 1) -> int:
    """scikit-learn's transform (``update_H=False``): sweeps over the rows of ``solved`` (from its
    current values) until the stopping rule holds. Returns the number of sweeps.

    - ``"cd"``: stop once violation / violation of the first sweep <= tol (or that one is 0);
    - ``"mu"``: every 10 sweeps (when tol > 0) compute e = √(2D); stop once
      (previous e − e) / (e at the start) < tol, at once if e at the start is 0.
    ``fixed_gram`` (FᵀF) is accepted for signature parity and recomputed here.
    """
    if solver == "cd":
        first = 0.0
        for n_iter in range(1, max_iter + 1):
            violation = nmf_cd_update(matrix, fixed, solved, l1=l1, l2=l2, missing=missing)
            if n_iter == 1:
                first = violation
            if first == 0 or violation / first <= tol:
                break
        return n_iter

    def error():
        return np.sqrt(2 * max(nmf_loss(matrix, solved, fixed, beta_loss=beta_loss,
                                        missing=missing), 0.0))

    initial = error() if tol > 0 else 0.0
    previous = initial
    for n_iter in range(1, max_iter + 1):
        nmf_mu_update(matrix, fixed, solved, beta_loss=beta_loss, l1=l1, l2=l2, missing=missing,
                      flush_below=0.0)
        if tol > 0 and n_iter % 10 == 0:
            if initial == 0:
                break
            current = error()
            if (previous - current) / initial < tol:
                break
            previous = current
    return n_iter
