"""Ranking by dot product, for every caller: the best ``N`` targets of each query (recommend,
similar_items / similar_users) and rows of scores block by block (evaluation).

Which kernel ranks a request (all give the same answer: best first, ties by the lower id, rows
padded with id -1 and score -inf):

- 8 queries or more: scores and selection fused in the kernel per block of queries (no queries
  x targets score matrix; parallel inside the kernel): ``rank_rows`` over the transposed
  targets, or ``rank_candidates`` over a subset of them (``items=``);
- fewer queries (one user): a BLAS product per block of queries, whose matrix-vector product
  beats the kernel's one-row panels (and, for a subset, the kernel's transposed copy of the
  candidates), then the backend's ``top_k``.
"""
from __future__ import annotations

import numpy as np

# Scores computed per block of queries: bounds the memory of score blocks (~32 MB of float64).
_SCORES_PER_BLOCK = 1 << 22
# From this many queries on, the fused kernels rank (see the module docstring).
_FUSED_MIN_QUERIES = 8


def score_blocks(queries: np.ndarray, targets: np.ndarray):
    """``(start, stop, queries[start:stop] @ targets.T)`` for consecutive blocks of queries, each
    holding at most ``_SCORES_PER_BLOCK`` scores (at least one query)."""
    block = max(1, _SCORES_PER_BLOCK // max(len(targets), 1))
    for start in range(0, len(queries), block):
        stop = min(start + block, len(queries))
        yield start, stop, queries[start:stop] @ targets.T


def _transpose(targets: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(targets.T)


def rank(queries: np.ndarray, targets: np.ndarray, N: int, *, backend, num_threads: int,
         exclude_rows=None, exclude=None, subset=None, transpose=_transpose):
    """Best ``N`` targets for each query row by ``query · target``, best first.

    Parameters
    ----------
    queries, targets : ndarray
        Row vectors (queries x factors, targets x factors), one float dtype.
    backend : module
        ``mfkit._cpp`` or ``mfkit.reference``.
    exclude_rows : scipy CSR matrix, optional
        One row per query; its stored columns (target ids) are dropped for that query.
    exclude : array of int, optional
        Target ids dropped for every query.
    subset : array of int, optional
        Only these target ids (no duplicates) are ranked.
    transpose : callable
        ``targets -> targets.T`` as a C-contiguous array; models pass their cache.

    Returns
    -------
    ids, scores : ndarray
        int32 ids and scores of shape (queries, min(N, candidates)), padded with -1 / -inf where
        a query has fewer candidates left.
    """
    rows = None if exclude_rows is None else (exclude_rows.indptr, exclude_rows.indices)
    excluded = chosen = candidates = None
    if subset is not None:
        # The candidates in increasing order (ties go to the lower id, as everywhere) from a
        # mask: faster than sorting the subset.
        chosen = np.zeros(len(targets), dtype=bool)
        chosen[subset] = True
        if exclude is not None:
            chosen[exclude] = False
        candidates = np.flatnonzero(chosen)
        n_candidates = len(candidates)
    else:
        excluded = None if exclude is None else np.unique(exclude).astype(np.int32)
        n_candidates = len(targets) - (0 if excluded is None else len(excluded))
    columns = min(N, n_candidates)
    if 0 < len(queries) < _FUSED_MIN_QUERIES:
        return _rank_by_products(queries, targets, columns, backend, num_threads, rows, excluded,
                                 chosen, candidates)
    if candidates is not None:
        return backend.rank_candidates(queries, targets, candidates.astype(np.int32), columns,
                                       num_threads=num_threads, exclude=rows)
    return backend.rank_rows(queries, transpose(targets), columns, num_threads=num_threads,
                             exclude=rows, excluded_all=excluded)


def _rank_by_products(queries, targets, columns, backend, num_threads, rows, excluded, chosen,
                      candidates):
    """:func:`rank` for a few queries: BLAS scores per block, then the backend's ``top_k``."""
    scored, target_ids = targets, None
    if candidates is not None:
        scored = targets[candidates]
        target_ids = np.append(candidates, -1).astype(np.int32)  # [-1]: padding stays -1
    parts = []
    for start, stop, scores in score_blocks(queries, scored):
        if excluded is not None and len(excluded):
            scores[:, excluded] = -np.inf
        exclusions = None
        if rows is not None:  # straight from the CSR arrays: no scipy slicing
            indptr, indices = rows
            liked = indices[indptr[start]:indptr[stop]]
            if chosen is None:  # dropped inside top_k
                exclusions = (indptr[start:stop + 1] - indptr[start], liked)
            else:  # liked candidates: target ids -> columns of scores
                row = np.repeat(np.arange(stop - start), np.diff(indptr[start:stop + 1]))
                hit = chosen[liked]
                scores[row[hit], np.searchsorted(candidates, liked[hit])] = -np.inf
        ids, best = backend.top_k(scores, columns, num_threads=num_threads, exclude=exclusions)
        parts.append((ids if target_ids is None else target_ids[ids], best))
    if len(parts) == 1:  # one block (e.g. a single user): its arrays are the answer
        return parts[0]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))
