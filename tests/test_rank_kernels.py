"""The ranking kernels (top-k selection, fused scoring + selection) against their numpy
reference twins; model-level ranking is in test_contract.py."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mfkit import _cpp, reference


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 3, 40, 200])
@pytest.mark.parametrize("columns", [150, 1003])  # blocks of 32 scanned at once, and a tail
def test_top_k_kernel_matches_reference(dtype, k, columns):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 20, size=(30, columns)).astype(dtype)  # many ties
    scores[rng.random(scores.shape) < 0.3] = -np.inf
    scores[rng.random(scores.shape) < 0.05] = np.nan
    scores[5] = -np.inf  # a row with nothing to select
    ids, best = _cpp.top_k(scores, k, num_threads=2)
    ref_ids, ref_best = reference.top_k(scores, k)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(best, ref_best)
    assert np.all(ids[5] == -1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("queries,targets", [(1, 40), (7, 33), (8, 64), (70, 301)])
@pytest.mark.parametrize("k", [1, 5, 50])
def test_rank_rows_kernel_matches_reference(dtype, queries, targets, k):
    """Fused scoring + selection (batch recommend) against numpy scores + top-k, with
    per-query and global exclusions; integer-valued factors make every score exact, so ties
    (broken by lower id) are common and must agree."""
    rng = np.random.default_rng(queries * 1000 + targets + k)
    Q = rng.integers(-2, 3, size=(queries, 6)).astype(dtype)
    T = rng.integers(-2, 3, size=(targets, 6)).astype(dtype)
    liked = sp.random(queries, targets, density=0.2, random_state=1, format="csr")
    excluded_all = np.array([0, targets - 1, targets // 2], dtype=np.int32)
    k = min(k, targets - len(excluded_all))
    exclude = (liked.indptr.astype(np.int64), liked.indices.astype(np.int32))
    ids, best = _cpp.rank_rows(Q, np.ascontiguousarray(T.T), k, num_threads=2, exclude=exclude,
                               excluded_all=excluded_all)
    ref_ids, ref_best = reference.rank_rows(Q, T.T, k, exclude=exclude,
                                            excluded_all=excluded_all)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(best, ref_best)
    assert not np.isin(ids, excluded_all).any()
    with pytest.raises(ValueError, match="exclude_indices"):
        _cpp.rank_rows(Q, np.ascontiguousarray(T.T), k, num_threads=1,
                       exclude=(exclude[0], np.full_like(exclude[1], targets)))
