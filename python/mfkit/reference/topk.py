"""Top-k selection and ranking in numpy: the twins of the C++ ``top_k``, ``rank_rows`` and
``rank_candidates`` kernels."""
from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int, *, num_threads: int = 1, exclude=None):
    """Best ``k`` columns of every row: ``(ids int32, scores)``, best first, ties by lower id.

    -inf (filtered) and NaN entries never qualify; short rows are padded with -1 / -inf.
    ``exclude``: optional ``(indptr, indices)`` listing per row the columns to drop first (set to
    -inf in ``scores``, in place).
    """
    rows, cols = scores.shape
    if exclude is not None:
        indptr, indices = exclude
        row_of = np.repeat(np.arange(rows), np.diff(indptr))
        scores[row_of, indices[:indptr[-1]]] = -np.inf
    ids = np.full((rows, k), -1, dtype=np.int32)
    best = np.full((rows, k), -np.inf, dtype=scores.dtype)
    for r in range(rows):
        row = scores[r]
        valid = np.flatnonzero(row > -np.inf)
        order = valid[np.lexsort((valid, -row[valid]))][:k]  # score descending, then id
        ids[r, : len(order)] = order
        best[r, : len(order)] = row[order]
    return ids, best


def rank_rows(queries: np.ndarray, targets_t: np.ndarray, k: int, *, num_threads: int = 1,
              exclude=None, excluded_all=None):
    """:func:`top_k` of ``queries @ targets_t`` with per-query ``exclude`` (``(indptr,
    indices)``) and ``excluded_all`` targets dropped first."""
    scores = queries @ targets_t
    if excluded_all is not None and len(excluded_all):
        scores[:, excluded_all] = -np.inf
    return top_k(scores, k, num_threads=num_threads, exclude=exclude)


def rank_candidates(queries: np.ndarray, targets: np.ndarray, candidates: np.ndarray, k: int, *,
                    num_threads: int = 1, exclude=None, excluded_all=None):
    """:func:`rank_rows` over the targets listed in ``candidates`` (strictly increasing ids),
    ``targets`` as rows; exclusions name target ids and are ignored where not candidates."""
    column = np.full(len(targets), -1, dtype=np.int64)
    column[candidates] = np.arange(len(candidates))
    scores = queries @ targets[candidates].T
    if excluded_all is not None and len(excluded_all):
        dropped = column[excluded_all]
        scores[:, dropped[dropped >= 0]] = -np.inf
    if exclude is not None:
        indptr, indices = exclude
        row_of = np.repeat(np.arange(len(queries)), np.diff(indptr))
        dropped = column[indices[:indptr[-1]]]
        scores[row_of[dropped >= 0], dropped[dropped >= 0]] = -np.inf
    ids, best = top_k(scores, k)
    return np.where(ids >= 0, np.asarray(candidates)[np.maximum(ids, 0)], -1).astype(np.int32), best
