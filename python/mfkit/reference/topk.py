"""Top-k selection in numpy: the twin of the C++ ``top_k`` kernel."""
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
