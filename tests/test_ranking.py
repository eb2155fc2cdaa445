"""The ranking paths of mfkit._ranking (BLAS + top-k for few queries, the fused kernels for
batches, item subsets through rank_candidates) against brute force; the shared API contract of
every model is in test_contract.py."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_implicit_matrix

import mfkit
from mfkit import _cpp, _ranking, reference


@pytest.fixture(scope="module")
def data():
    return make_implicit_matrix(seed=5, n_users=80, n_items=50, density=0.12)


@pytest.fixture(scope="module", params=["cpp", "reference"])
def model(request, data):
    return mfkit.ALS(factors=8, iterations=4, random_state=0, backend=request.param,
                     num_threads=1).fit(data, show_progress=False)


def brute_force(model, user, liked=(), excluded=(), subset=None, N=10):
    """Plain numpy: score all items, drop the filtered ones, stable sort by score."""
    scores = (model.item_factors @ model.user_factors[user]).astype(np.float64)
    candidates = np.arange(len(scores)) if subset is None else np.asarray(subset)
    keep = [i for i in candidates if i not in set(liked) | set(excluded)]
    keep = np.array(keep, dtype=np.int64)
    order = keep[np.lexsort((keep, -scores[keep]))][:N]
    return order, scores[order]


@pytest.mark.parametrize("users", [np.array([2, 9, 17]), np.arange(80)])  # BLAS / fused kernel
@pytest.mark.parametrize("subset", [np.array([40, 3, 9, 27, 11, 5, 44, 30, 1, 22]),
                                    np.arange(0, 50, 2)[::-1], np.arange(50)])
def test_items_subset_batches_match_brute_force(model, data, users, subset):
    ids, scores = model.recommend(users, data[users], N=6, items=subset)
    for row, user in enumerate(users):
        expected_ids, expected_scores = brute_force(model, user, liked=data[user].indices,
                                                    subset=subset, N=6)
        found = ids[row][ids[row] >= 0]
        np.testing.assert_array_equal(found, expected_ids)
        np.testing.assert_allclose(scores[row][:len(found)], expected_scores, rtol=1e-5)
        assert np.all(np.isneginf(scores[row][len(found):]))


def test_items_subset_ties_go_to_the_lower_id(data):
    """Exactly equal scores (a constant item factor) rank by item id, whatever the order of
    ``items`` and whichever path (one user: BLAS; 8 or more: the fused kernel) ranks them."""
    for backend in ("cpp", "reference"):
        model = mfkit.ALS(factors=3, iterations=1, random_state=0, backend=backend,
                          dtype=np.float64).fit(data, show_progress=False)
        model.item_factors = np.ones_like(model.item_factors)
        model.user_factors = np.abs(model.user_factors) + 1
        subset = np.array([31, 4, 17, 8, 45, 2])
        expected = [2, 4, 8, 17]
        ids, _ = model.recommend(0, None, N=4, items=subset, filter_already_liked_items=False)
        np.testing.assert_array_equal(ids, expected)
        batch, _ = model.recommend(np.arange(10), None, N=4, items=subset,
                                   filter_already_liked_items=False)
        np.testing.assert_array_equal(batch, np.tile(expected, (10, 1)))


def test_similar_items_subset_batches_match_single_calls(model):
    subset = np.array([12, 0, 7, 33, 41, 19, 25])
    queries = np.arange(0, 50, 3)  # 17 queries: the fused kernel
    ids, scores = model.similar_items(queries, N=5, items=subset)
    for row, item in enumerate(queries):
        one_ids, one_scores = model.similar_items(int(item), N=5, items=subset)
        np.testing.assert_array_equal(ids[row], one_ids)
        np.testing.assert_allclose(scores[row], one_scores, rtol=1e-5, atol=1e-6)


def test_few_queries_over_several_blocks_equal_one_block(model, data, monkeypatch):
    users = np.array([5, 1, 60, 33, 12])
    for subset in (None, np.array([3, 30, 8, 41, 19, 0, 26])):
        whole = model.recommend(users, data[users], N=4, items=subset)
        monkeypatch.setattr(_ranking, "_SCORES_PER_BLOCK", 2 * 50)  # blocks of 2 queries
        blocks = model.recommend(users, data[users], N=4, items=subset)
        monkeypatch.undo()
        np.testing.assert_array_equal(blocks[0], whole[0])
        # BLAS may sum products of 2 and of 5 rows in different orders
        np.testing.assert_allclose(blocks[1], whole[1], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("queries,targets", [(1, 40), (9, 33), (70, 301)])
@pytest.mark.parametrize("n_candidates", [0, 1, 17, 33])
def test_rank_candidates_kernel_matches_reference(dtype, queries, targets, n_candidates):
    """Fused ranking over a candidate subset against numpy; integer-valued factors make every
    score exact, so the many ties (lower id first) must agree. Exclusions name target ids,
    candidates or not; the result does not depend on the thread count."""
    rng = np.random.default_rng(queries * 1000 + targets + n_candidates)
    Q = rng.integers(-2, 3, size=(queries, 6)).astype(dtype)
    T = rng.integers(-2, 3, size=(targets, 6)).astype(dtype)
    candidates = np.sort(rng.choice(targets, n_candidates, replace=False)).astype(np.int32)
    liked = sp.random(queries, targets, density=0.2, random_state=1, format="csr")
    exclude = (liked.indptr.astype(np.int64), liked.indices.astype(np.int32))
    excluded_all = np.array([0, targets - 1, targets // 2], dtype=np.int32)
    k = min(5, n_candidates)
    results = [_cpp.rank_candidates(Q, T, candidates, k, num_threads=threads, exclude=exclude,
                                    excluded_all=excluded_all) for threads in (1, 2)]
    ref_ids, ref_best = reference.rank_candidates(Q, T, candidates, k, exclude=exclude,
                                                  excluded_all=excluded_all)
    for ids, best in results:
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_array_equal(best, ref_best)
        assert np.isin(ids[ids >= 0], candidates).all()
        assert not np.isin(ids, excluded_all).any()


def test_rank_candidates_over_every_target_is_rank_rows():
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((40, 16)).astype(np.float32)
    T = rng.standard_normal((300, 16)).astype(np.float32)
    every = np.arange(300, dtype=np.int32)
    a = _cpp.rank_candidates(Q, T, every, 20, num_threads=2)
    b = _cpp.rank_rows(Q, np.ascontiguousarray(T.T), 20, num_threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])  # same panels, same sums


@pytest.mark.parametrize("candidates", [[3, 2], [1, 1], [-1, 2], [2, 10]])
def test_rank_candidates_rejects_bad_candidates(candidates):
    Q, T = np.ones((2, 3)), np.ones((10, 3))
    with pytest.raises(ValueError, match="candidates"):
        _cpp.rank_candidates(Q, T, np.array(candidates, dtype=np.int32), 1, num_threads=1)
