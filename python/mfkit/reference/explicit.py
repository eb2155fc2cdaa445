"""Explicit-feedback matrix factorization in plain numpy (twin of ``mfkit/explicit_mf.hpp``).

Model ``r̂_ui = μ + b_u + b_i + p_uᵀq_i`` (``biased=False``: ``p_uᵀq_i``) fitted on the observed
ratings K only; both solvers minimize

    L = Σ_{(u,i)∈K} (r_ui − r̂_ui)² + λ Σ_u n_u (‖p_u‖² + b_u²) + λ Σ_i n_i (‖q_i‖² + b_i²)

(the per-rating penalty of Koren, Bell & Volinsky 2009, which is exactly the weighted-λ
penalty of ALS-WR, Zhou et al. 2008), with μ fixed to the mean training rating.

- :func:`explicit_sgd_epoch`: per-rating SGD steps, stratum by stratum, block by block, each
  block in its stored order (the C++ runs the blocks of a stratum in parallel; they share no
  user and no item, so the order between them does not matter).
- :func:`explicit_shuffle`: the per-block Fisher–Yates shuffle with the core's SplitMix64
  streams, bit for bit.
- :func:`explicit_als_solve_rows`: ALS-WR row solves.
"""
from __future__ import annotations

import numpy as np

from .._containers import CsrArrays, RatingBlocks
from ..exceptions import NumericalError
from .random import SplitMix64, stream_seed


# ---------------------------------------------------------------------------- shuffle
def explicit_shuffle(blocks: RatingBlocks, seed: int, *, num_threads: int = 1) -> None:
    """Shuffle the entries of every block in place: Fisher–Yates from the end, block ``b``
    drawing from its own SplitMix64 stream, ``stream_seed(seed, b)``."""
    for b in range(blocks.grid * blocks.grid):
        start, stop = int(blocks.block_ptr[b]), int(blocks.block_ptr[b + 1])
        generator = SplitMix64(stream_seed(int(seed), b))
        for i in range(stop - start - 1, 0, -1):
            j = generator.below(i + 1)
            for array in (blocks.users, blocks.items, blocks.ratings):
                array[start + i], array[start + j] = array[start + j], array[start + i]


# ---------------------------------------------------------------------------- SGD
def explicit_sgd_epoch(blocks: RatingBlocks, strata: np.ndarray, user_factors: np.ndarray,
                       item_factors: np.ndarray, user_bias: np.ndarray, item_bias: np.ndarray, *,
                       global_mean, learning_rate, regularization, biased, num_threads=1) -> None:
    """One SGD epoch (Koren, Bell & Volinsky 2009), in place. For each rating in turn::

        e = r − r̂;  b_u += γ(e − λb_u);  b_i += γ(e − λb_i)
        p_u, q_i = p_u + γ(e q_i − λ p_u),  q_i + γ(e p_u − λ q_i)

    Stratum ``s`` holds blocks ``(b, (b + strata[s]) mod grid)``; strata in the given order.
    """
    dtype = user_factors.dtype.type
    lr, reg, mu = dtype(learning_rate), dtype(regularization), dtype(global_mean)
    decay = dtype(1) - lr * reg
    grid = blocks.grid
    for shift in strata:
        for b in range(grid):
            block = b * grid + (b + int(shift)) % grid
            for e in range(int(blocks.block_ptr[block]), int(blocks.block_ptr[block + 1])):
                u, i = blocks.users[e], blocks.items[e]
                p, q = user_factors[u], item_factors[i]
                prediction = p @ q
                if biased:
                    prediction += mu + user_bias[u] + item_bias[i]
                err = blocks.ratings[e] - prediction
                if biased:
                    user_bias[u] += lr * (err - reg * user_bias[u])
                    item_bias[i] += lr * (err - reg * item_bias[i])
                step = lr * err
                p_old = p.copy()
                user_factors[u] = decay * p + step * q
                item_factors[i] = decay * q + step * p_old


# ---------------------------------------------------------------------------- loss
def explicit_loss(matrix: CsrArrays, user_factors: np.ndarray, item_factors: np.ndarray,
                  user_bias: np.ndarray, item_bias: np.ndarray, *, global_mean, regularization,
                  biased, num_threads=1) -> float:
    """The objective ``L`` (module docstring) over the stored ratings of ``matrix``."""
    counts = np.diff(matrix.indptr)
    users = np.repeat(np.arange(matrix.shape[0]), counts)
    items = matrix.indices
    P = user_factors.astype(np.float64)
    Q = item_factors.astype(np.float64)
    prediction = np.einsum("ij,ij->i", P[users], Q[items])
    user_penalty = np.einsum("ij,ij->i", P, P)
    item_penalty = np.einsum("ij,ij->i", Q, Q)
    if biased:
        bu, bi = user_bias.astype(np.float64), item_bias.astype(np.float64)
        prediction += global_mean + bu[users] + bi[items]
        user_penalty += bu**2
        item_penalty += bi**2
    errors = matrix.data.astype(np.float64) - prediction
    item_counts = np.bincount(items, minlength=matrix.shape[1])
    return float(errors @ errors + regularization * (counts @ user_penalty
                                                     + item_counts @ item_penalty))


# ---------------------------------------------------------------------------- ALS-WR
def explicit_als_solve_rows(matrix: CsrArrays, fixed: np.ndarray, fixed_bias: np.ndarray,
                            solved: np.ndarray, solved_bias: np.ndarray, *, global_mean,
                            regularization, biased, num_threads=1) -> None:
    """ALS-WR (Zhou et al. 2008): every row solved exactly, in place, with ``fixed`` constant.

    For row ``u`` with ratings ``r_uj``: ``x = (ZᵀZ + λ n_u I)⁻¹ Zᵀ t`` where
    ``z_j = [f_j, 1]``, ``t_j = r_uj − μ − c_j`` and ``x = [p_u, b_u]`` when ``biased``
    (``c = fixed_bias``), else ``z_j = f_j``, ``t_j = r_uj``, ``x = p_u``. Rows with fewer
    ratings than unknowns use ``x = Zᵀ (ZZᵀ + λ n_u I)⁻¹ t`` (the same vector, by the
    push-through identity; the minimum-norm least-squares solution when λ = 0). Rows without
    ratings get zeros.
    """
    dtype = solved.dtype
    k = fixed.shape[1]
    for u in range(matrix.shape[0]):
        start, stop = matrix.indptr[u], matrix.indptr[u + 1]
        n = int(stop - start)
        if n == 0:
            solved[u] = 0
            if biased:
                solved_bias[u] = 0
            continue
        columns = matrix.indices[start:stop]
        target = matrix.data[start:stop].astype(dtype)
        Z = fixed[columns]
        if biased:
            target = target - (dtype.type(global_mean) + fixed_bias[columns])
            Z = np.hstack([Z, np.ones((n, 1), dtype=dtype)])
        lam = dtype.type(regularization) * dtype.type(n)
        short = n < Z.shape[1]
        A = Z @ Z.T if short else Z.T @ Z
        A = A + lam * np.eye(len(A), dtype=dtype)
        try:
            np.linalg.cholesky(A)  # positive definite, as the core's Cholesky requires
            x = Z.T @ np.linalg.solve(A, target) if short else np.linalg.solve(A, Z.T @ target)
        except np.linalg.LinAlgError:
            raise NumericalError(f"explicit ALS: the system of row {u} is singular; "
                                 "increase regularization") from None
        solved[u] = x[:k]
        if biased:
            solved_bias[u] = x[k]
