"""Approximate ranking with the exact path's filters and answer: over-fetch from the index, drop
the filtered targets, fetch twice as many until ``N`` survive, and rank the survivors exactly.

A query whose fetch would pass ``1/_EXACT_FROM`` of the catalogue (most of its top targets
filtered, a small ``items=`` subset, ``N`` near the catalogue size) or that the index cannot serve
in full goes to the exact path instead: searching a graph for that many neighbours costs more
than scoring every target. So a result is never shorter than the exact path's.
"""
from __future__ import annotations

import numpy as np

# Fetching more than n_targets / _EXACT_FROM neighbours falls back to the exact path.
_EXACT_FROM = 16
# Bounds the (queries x fetched x factors) gather of the exact re-scoring (~32 MB of float64).
_GATHERED_PER_BLOCK = 1 << 22


def rank_approximately(index, queries: np.ndarray, targets: np.ndarray, N: int, *,
                       num_threads: int, exact, exclude_rows=None, exclude=None, subset=None):
    """:func:`mfkit._ranking.rank`'s answer, with candidates found by ``index``.

    Parameters
    ----------
    index : ItemIndex
        Built on ``targets``.
    queries, targets, N, exclude_rows, exclude, subset
        As in :func:`mfkit._ranking.rank`.
    exact : callable
        ``exact(queries, exclude_rows)``: the exact ranking of some of the queries (with the same
        ``targets``, ``N``, ``exclude`` and ``subset``), for the queries sent there.

    Returns
    -------
    ids, scores : ndarray
        int32 ids and exact scores (``query · target`` in the queries' dtype) of shape
        (queries, min(N, candidates)), best first, ties by the lower id, padded with -1 / -inf.
    """
    n = len(targets)
    allowed, n_allowed = None, n  # None: every target (no mask to build per call)
    if subset is not None or exclude is not None:
        allowed = np.zeros(n, dtype=bool) if subset is not None else np.ones(n, dtype=bool)
        if subset is not None:
            allowed[subset] = True
        if exclude is not None:
            allowed[exclude] = False
        n_allowed = int(np.count_nonzero(allowed))
    columns = min(N, n_allowed)
    ids = np.full((len(queries), columns), -1, dtype=np.int32)
    scores = np.full((len(queries), columns), -np.inf, dtype=queries.dtype)
    if columns == 0 or len(queries) == 0:
        return ids, scores

    if allowed is None and exclude_rows is None:  # nothing filtered: one search of N
        found, complete = index.search(queries, columns, num_threads)
        if complete:
            _rank_found(queries, targets, np.arange(len(queries)), found, None, ids, scores)
            return ids, scores
    liked_keys, liked_allowed = _liked(exclude_rows, allowed, len(queries), n)
    need = np.minimum(columns, n_allowed - liked_allowed)  # what the exact path would return
    # First fetch: enough if the index is exact and the filters hit the top as often as the
    # rest (liked items count in full: they are usually near the top), rounded to columns * 2^j.
    estimate = (columns + liked_allowed) * (n / n_allowed)
    fetch = columns * 2 ** np.ceil(np.log2(np.maximum(estimate / columns, 1.0))).astype(np.int64)
    limit = n // _EXACT_FROM
    pending, to_exact = np.flatnonzero(need > 0), []
    while len(pending):
        too_many = fetch[pending] > limit
        to_exact.append(pending[too_many])
        pending = pending[~too_many]
        unserved = []
        for k in np.unique(fetch[pending]):
            rows = pending[fetch[pending] == k]
            found, complete = index.search(queries[rows], int(k), num_threads)
            if not complete:
                to_exact.append(rows)
                continue
            keep = np.ones(found.shape, dtype=bool) if allowed is None else allowed[found]
            if liked_keys is not None:
                keep &= ~_isin_sorted(rows[:, None] * n + found, liked_keys)
            done = keep.sum(axis=1) >= need[rows]
            _rank_found(queries, targets, rows[done], found[done], keep[done], ids, scores)
            unserved.append(rows[~done])
        pending = np.concatenate(unserved) if unserved else pending[:0]
        fetch[pending] *= 2
    to_exact = np.concatenate(to_exact)
    if len(to_exact):
        rows = None if exclude_rows is None else exclude_rows[to_exact]
        ids[to_exact], scores[to_exact] = exact(queries[to_exact], rows)
    return ids, scores


def _liked(exclude_rows, allowed, n_queries: int, n: int):
    """``(keys, counts)``: the sorted keys ``query * n + target`` of each query's excluded
    targets (None without ``exclude_rows``) and how many of them are otherwise allowed
    (``allowed`` None: all are)."""
    if exclude_rows is None:
        return None, np.zeros(n_queries, dtype=np.int64)
    indptr, indices = exclude_rows.indptr, exclude_rows.indices
    row = np.repeat(np.arange(n_queries, dtype=np.int64), np.diff(indptr))
    counts = np.bincount(row if allowed is None else row[allowed[indices]], minlength=n_queries)
    return row * n + indices, counts  # canonical CSR: sorted by row, then by column


def _isin_sorted(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_keys)`` by binary search (``sorted_keys`` sorted)."""
    if len(sorted_keys) == 0:
        return np.zeros(keys.shape, dtype=bool)
    where = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[where] == keys


def _rank_found(queries, targets, rows, found, keep, ids, scores):
    """Write into ``ids`` / ``scores`` rows ``rows``: the kept ``found`` targets (``keep``
    None: all) ranked by their exact scores, best first, ties by the lower id, padded with
    -1 / -inf."""
    columns = ids.shape[1]
    if len(rows) == 1 and keep is None:  # one query, nothing filtered (online serving)
        row, candidates = rows[0], found[0]
        exact = targets[candidates] @ queries[row]
        order = np.lexsort((candidates, -exact))[:columns]
        ids[row], scores[row] = candidates[order], exact[order]
        return
    block = max(1, _GATHERED_PER_BLOCK // (found.shape[1] * targets.shape[1]))
    for start in range(0, len(rows), block):
        part = slice(start, start + block)
        candidates = found[part]
        exact = np.einsum("qd,qkd->qk", queries[rows[part]], targets[candidates])
        if keep is not None:
            exact[~keep[part]] = -np.inf
            candidates = np.where(keep[part], candidates, len(targets))  # dropped: sorted last
        order = np.lexsort((candidates, -exact), axis=1)[:, :columns]
        best = np.take_along_axis(exact, order, axis=1)
        chosen = np.take_along_axis(candidates, order, axis=1)
        ids[rows[part]] = chosen if keep is None else np.where(np.isfinite(best), chosen, -1)
        scores[rows[part]] = best
