"""Bayesian Personalized Ranking in plain numpy (Rendle et al., UAI 2009): the twin of
cpp/include/mfkit/bpr.hpp, sample for sample.

Score ``x_u·y_i + b_i``. For a sampled triple (user ``u``, positive ``i``, negative ``j``) with
``x_uij = x_u·(y_i − y_j) + b_i − b_j`` and ``g = σ(−x_uij) = 1 / (1 + e^{x_uij})``, one SGD
step on ``ln σ(x_uij) − (λ/2)(‖x_u‖² + ‖y_i‖² + ‖y_j‖² + b_i² + b_j²)`` is::

    x_u ← x_u + η (g (y_i − y_j) − λ x_u)
    y_i ← y_i + η (g x_u − λ y_i)          b_i ← b_i + η (g − λ b_i)
    y_j ← y_j + η (−g x_u − λ y_j)         b_j ← b_j + η (−g − λ b_j)

(right-hand sides at the old values). An epoch draws ``nnz`` triples split into
``num_threads`` chunks; chunk ``t`` uses three xoshiro256** generators seeded from
``stream_seed(seed, 3t + 0|1|2)``: the positive (a uniformly drawn stored entry), the first
negative candidate (a uniform item, or the item of a uniformly drawn entry for popularity
sampling) and the redraws after rejections. The C++ core draws exactly these triples
(:func:`bpr_sample`), so both backends can be compared update for update.
"""
from __future__ import annotations

import numpy as np

from .._containers import BprIndex, CsrArrays
from .random import Xoshiro256, stream_seed

MAX_NEGATIVE_DRAWS = 32  # same constant as the C++ core


def bpr_index(positives: CsrArrays) -> BprIndex:
    """The row of every stored entry (the C++ twin also builds a membership filter)."""
    entry_rows = np.repeat(np.arange(positives.shape[0], dtype=np.int32),
                           np.diff(positives.indptr))
    return BprIndex(entry_rows=entry_rows)


def _stats(samples=0):
    return {"samples": samples, "updates": 0, "ranked": 0, "draws": 0, "rejected": 0,
            "skipped": 0, "finite": True}


def _chunk_begin(n: int, chunks: int, t: int) -> int:
    return (n // chunks) * t + min(t, n % chunks)


def _contains(row: np.ndarray, j: int) -> bool:
    pos = int(np.searchsorted(row, j))
    return pos < len(row) and int(row[pos]) == j


def _kth_absent(row: np.ndarray, r: int) -> int:
    """The r-th (0-based) item not in the sorted unique ``row``."""
    shifted = row.astype(np.int64) - np.arange(len(row), dtype=np.int64)
    return r + int(np.searchsorted(shifted, r, side="right"))


def _resolve_negative(candidate, row, n_items, verify, uniform, retry, redraw, stats):
    """The sample's negative from its first candidate; -1 when the sample is skipped."""
    stats["draws"] += 1
    if not verify:
        return candidate
    draws = 1
    while _contains(row, candidate):
        stats["rejected"] += 1
        if draws == MAX_NEGATIVE_DRAWS:
            if uniform and len(row) < n_items:
                stats["draws"] += 1
                return _kth_absent(row, retry.below(n_items - len(row)))
            stats["skipped"] += 1
            return -1
        candidate = redraw()
        stats["draws"] += 1
        draws += 1
    return candidate


def bpr_sample(positives: CsrArrays, index: BprIndex, *, negative_sampling,
               verify_negative_samples, seed, num_threads=1):
    """The triples of one epoch: ``(users, positives, negatives, stats)``, int32 arrays of
    ``nnz`` entries each (negative -1: skipped), exactly as the C++ sampler draws them."""
    indptr, indices, entry_rows = positives.indptr, positives.indices, index.entry_rows
    n_items = positives.shape[1]
    nnz = int(indptr[-1])
    uniform = negative_sampling == "uniform"
    users = np.empty(nnz, dtype=np.int32)
    pos = np.empty(nnz, dtype=np.int32)
    neg = np.empty(nnz, dtype=np.int32)
    stats = _stats(nnz)
    if nnz == 0:
        stats["samples"] = 0
        return users, pos, neg, stats
    chunks = max(1, num_threads)
    for t in range(chunks):
        first_generator = Xoshiro256(stream_seed(seed, 3 * t))
        negative_generator = Xoshiro256(stream_seed(seed, 3 * t + 1))
        retry = Xoshiro256(stream_seed(seed, 3 * t + 2))

        def redraw(retry=retry):
            if uniform:
                return retry.below(n_items)
            return int(indices[retry.below(nnz)])

        for s in range(_chunk_begin(nnz, chunks, t), _chunk_begin(nnz, chunks, t + 1)):
            entry = first_generator.below(nnz)
            u, i = int(entry_rows[entry]), int(indices[entry])
            if uniform:
                candidate = negative_generator.below(n_items)
            else:
                candidate = int(indices[negative_generator.below(nnz)])
            row = indices[indptr[u]:indptr[u + 1]] if verify_negative_samples else indices[:0]
            users[s], pos[s] = u, i
            neg[s] = _resolve_negative(candidate, row, n_items, verify_negative_samples,
                                       uniform, retry, redraw, stats)
    return users, pos, neg, stats


def _step(X, Y, bias, u, i, j, lr, reg, stats) -> bool:
    """One SGD step (module docstring); False, changing nothing, when the score is not finite."""
    x, a, b = X[u].copy(), Y[i].copy(), Y[j].copy()
    with np.errstate(over="ignore", invalid="ignore"):
        d = x @ (a - b) + (bias[i] - bias[j])
        if not np.isfinite(d):
            return False
        stats["ranked"] += 2 if d > 0 else (1 if d == 0 else 0)
        stats["updates"] += 1
        one = d.dtype.type(1)
        g = one / (one + np.exp(d))
        X[u] = x + lr * (g * (a - b) - reg * x)
        Y[i] = a + lr * (g * x - reg * a)
        Y[j] = b + lr * (-g * x - reg * b)
        bi, bj = bias[i], bias[j]
        bias[i] = bi + lr * (g - reg * bi)
        bias[j] = bj + lr * (-g - reg * bj)
    return True


def bpr_update(user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray,
               users: np.ndarray, positives: np.ndarray, negatives: np.ndarray, *,
               learning_rate, regularization, num_threads=1) -> dict:
    """SGD steps over the given triples in order (negative -1: skipped), in place."""
    dtype = user_factors.dtype.type
    lr, reg = dtype(learning_rate), dtype(regularization)
    stats = _stats(len(users))
    for u, i, j in zip(users.tolist(), positives.tolist(), negatives.tolist()):
        if j < 0:
            continue
        if not _step(user_factors, item_factors, item_bias, u, i, j, lr, reg, stats):
            stats["finite"] = False
            break
    return stats


def bpr_epoch(positives: CsrArrays, index: BprIndex, user_factors: np.ndarray,
              item_factors: np.ndarray, item_bias: np.ndarray, *, learning_rate, regularization,
              negative_sampling, verify_negative_samples, seed, num_threads=1) -> dict:
    """One epoch: :func:`bpr_sample`'s triples, then :func:`bpr_update` on them."""
    users, pos, neg, stats = bpr_sample(
        positives, index, negative_sampling=negative_sampling,
        verify_negative_samples=verify_negative_samples, seed=seed, num_threads=num_threads)
    updates = bpr_update(user_factors, item_factors, item_bias, users, pos, neg,
                         learning_rate=learning_rate, regularization=regularization,
                         num_threads=num_threads)
    for key in ("updates", "ranked"):
        stats[key] = updates[key]
    stats["finite"] = updates["finite"]
    return stats


def bpr_fold_in(rows: CsrArrays, item_factors: np.ndarray, item_bias: np.ndarray,
                cumulative_counts: np.ndarray, solved: np.ndarray, *, epochs, learning_rate,
                regularization, negative_sampling, verify_negative_samples, seed,
                num_threads=1) -> dict:
    """Each row's user factor by ``epochs`` SGD epochs on ``x`` alone (items and biases fixed),
    from ``x = 0``; every row uses generators seeded from ``seed`` alone (streams 0, 1, 2).
    An epoch draws as many triples as the row has positives. Rows that diverge become NaN."""
    dtype = item_factors.dtype.type
    lr, reg = dtype(learning_rate), dtype(regularization)
    n_items = item_factors.shape[0]
    uniform = negative_sampling == "uniform"
    total = 0 if uniform else int(cumulative_counts[-1]) if n_items else 0
    stats = _stats()
    one = dtype(1)
    for r in range(rows.shape[0]):
        solved[r] = 0
        row = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
        if len(row) == 0 or (not uniform and total == 0):
            continue
        first_generator = Xoshiro256(stream_seed(seed, 0))
        negative_generator = Xoshiro256(stream_seed(seed, 1))
        retry = Xoshiro256(stream_seed(seed, 2))

        def draw(generator):
            if uniform:
                return generator.below(n_items)
            return int(np.searchsorted(cumulative_counts, generator.below(total), side="right"))

        x = np.zeros(item_factors.shape[1], dtype=item_factors.dtype)
        diverged = False
        for _ in range(epochs):
            for _ in range(len(row)):
                stats["samples"] += 1
                i = int(row[first_generator.below(len(row))])
                candidate = draw(negative_generator)
                j = _resolve_negative(candidate, row, n_items, verify_negative_samples, uniform,
                                      retry, lambda retry=retry: draw(retry), stats)
                if j < 0:
                    continue
                a, b = item_factors[i], item_factors[j]
                with np.errstate(over="ignore", invalid="ignore"):
                    d = x @ (a - b) + (item_bias[i] - item_bias[j])
                    if not np.isfinite(d):
                        diverged = True
                        break
                    stats["ranked"] += 2 if d > 0 else (1 if d == 0 else 0)
                    stats["updates"] += 1
                    g = one / (one + np.exp(d))
                    x = x + lr * (g * (a - b) - reg * x)
            if diverged:
                break
        if diverged:
            stats["finite"] = False
            x[:] = np.nan
        solved[r] = x
    return stats
