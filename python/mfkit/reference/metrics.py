"""Ranking metrics in numpy: the twin of the C++ ``ranking_metrics`` kernel.

For user ``u`` (one row of the block), with scores ``s``:

- ``C``  = candidates: every item not in the user's train row (train items are never ranked);
- ``Te`` = relevant items: the user's test items that are candidates;
- ``L``  = the ``K`` best candidates by score, ties by the lower id; ``rel_k = [L_k ∈ Te]``.

Columns of the result, in this order::

    0 precision = |L∩Te| / K
    1 recall    = |L∩Te| / |Te|
    2 AP        = Σ_{k=1..K} P@k · rel_k / min(K, |Te|),   P@k = |L_1..k ∩ Te| / k
    3 nDCG      = DCG / IDCG,  DCG = Σ_{k=1..K} rel_k / log2(k+1),
                  IDCG = Σ_{k=1..min(K,|Te|)} 1 / log2(k+1)
    4 hit       = [|L∩Te| > 0]
    5 RR        = 1 / rank of the first relevant item of L (0 if none)
    6 AUC       = (#{s_i > s_j} + ½ #{s_i = s_j}) / (|Te| · |C \\ Te|),  i ∈ Te, j ∈ C \\ Te

A row with ``Te`` empty is all NaN; AUC alone is NaN when every candidate is relevant.
Candidates scored -inf never enter ``L`` but count in AUC; a NaN candidate score is an error.
"""
from __future__ import annotations

import numpy as np

from .._containers import CsrArrays

METRIC_COLUMNS = ("precision", "recall", "map", "ndcg", "hit_rate", "mrr", "auc")


def _top_k(scores: np.ndarray, candidates: np.ndarray, K: int) -> np.ndarray:
    """The ``K`` best candidates, best first, ties by lower id; -inf never qualifies."""
    valid = candidates[scores[candidates] > -np.inf]
    return valid[np.lexsort((valid, -scores[valid]))][:K]


def _list_metrics(ranked: np.ndarray, relevant: set, K: int) -> list:
    """precision, recall, AP, nDCG, hit, RR of the ranked list (formulas in the module doc)."""
    hits, precision_sum, dcg, reciprocal_rank = 0, 0.0, 0.0, 0.0
    for k, item in enumerate(ranked, start=1):
        if item not in relevant:
            continue
        hits += 1
        precision_sum += hits / k
        dcg += 1.0 / np.log2(k + 1.0)
        if hits == 1:
            reciprocal_rank = 1.0 / k
    ideal = min(K, len(relevant))
    idcg = sum(1.0 / np.log2(k + 1.0) for k in range(1, ideal + 1))
    return [hits / K, hits / len(relevant), precision_sum / ideal, dcg / idcg,
            1.0 if hits else 0.0, reciprocal_rank]


def _auc(relevant_scores: np.ndarray, other_scores: np.ndarray) -> float:
    """Share of (relevant, non-relevant) pairs ordered correctly, ties counting ½."""
    if len(other_scores) == 0:
        return np.nan
    ordered = np.sort(relevant_scores)
    low = np.searchsorted(ordered, other_scores, side="left")
    high = np.searchsorted(ordered, other_scores, side="right")
    twice_correct = int(np.sum(2 * (len(ordered) - high) + (high - low)))
    return twice_correct / (2.0 * len(ordered) * len(other_scores))


def ranking_metrics_block(scores: np.ndarray, train: CsrArrays, test: CsrArrays, K: int, *,
                          num_threads: int = 1) -> np.ndarray:
    """Per-user ranking metrics of a block of users: float64 array (rows, 7), columns as in the
    module docstring. ``train`` / ``test`` hold the same users' rows (values are ignored)."""
    if K < 1:
        raise ValueError("K must be >= 1")
    rows, n_items = scores.shape
    result = np.full((rows, len(METRIC_COLUMNS)), np.nan)
    for r in range(rows):
        liked = np.unique(train.indices[train.indptr[r]:train.indptr[r + 1]])
        candidate = np.ones(n_items, dtype=bool)
        candidate[liked] = False
        tested = np.unique(test.indices[test.indptr[r]:test.indptr[r + 1]])
        relevant = tested[candidate[tested]]
        if len(relevant) == 0:
            continue
        row = scores[r]
        candidates = np.flatnonzero(candidate)
        if np.isnan(row[candidates]).any():
            raise ValueError("scores contain NaN (are the factors finite?)")
        ranked = _top_k(row, candidates, K)
        result[r, :6] = _list_metrics(ranked, set(relevant.tolist()), K)
        is_relevant = np.zeros(n_items, dtype=bool)
        is_relevant[relevant] = True
        result[r, 6] = _auc(row[relevant], row[candidate & ~is_relevant])
    return result
