"""recommend: agreement with brute force, filters, batches, padding, recalculation, errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import _cpp, _ranking, reference

from conftest import make_implicit_matrix


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


def test_scalar_matches_brute_force(model, data):
    for user in range(0, 80, 7):
        ids, scores = model.recommend(user, data[user], N=10)
        expected_ids, expected_scores = brute_force(model, user, liked=data[user].indices)
        np.testing.assert_array_equal(ids, expected_ids)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
        assert ids.ndim == 1 and ids.dtype == np.int32


def test_batch_rows_equal_scalar_answers(model, data):
    users = np.array([3, 0, 41, 3, 79])
    ids, scores = model.recommend(users, data[users], N=7)
    assert ids.shape == scores.shape == (5, 7)
    for row, user in enumerate(users):
        one_ids, one_scores = model.recommend(int(user), data[user], N=7)
        np.testing.assert_array_equal(ids[row], one_ids)
        # BLAS may sum a matrix-vector and a matrix-matrix product in different orders
        np.testing.assert_allclose(scores[row], one_scores, rtol=1e-6)


def test_liked_and_filtered_items_never_appear(model, data):
    excluded = np.array([0, 1, 2, 17, 33])
    users = np.arange(80)
    ids, _ = model.recommend(users, data, N=50, filter_items=excluded)
    for user in users:
        row = ids[user][ids[user] >= 0]
        assert not set(row) & set(data[user].indices)
        assert not set(row) & set(excluded)
        # every other item is there, exactly once, in score order
        assert len(row) == len(set(row)) == 50 - len(set(data[user].indices) | set(excluded))


def test_items_subset(model, data):
    subset = np.array([40, 3, 9, 27, 11, 5])
    ids, scores = model.recommend(2, data[2], N=4, items=subset)
    expected_ids, _ = brute_force(model, 2, liked=data[2].indices, subset=subset, N=4)
    np.testing.assert_array_equal(ids, expected_ids)
    assert set(ids) <= set(subset)
    assert np.all(np.diff(scores) <= 0)



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

def test_unfiltered_without_user_items(model):
    ids, scores = model.recommend(4, None, N=5, filter_already_liked_items=False)
    expected_ids, _ = brute_force(model, 4, N=5)
    np.testing.assert_array_equal(ids, expected_ids)


def test_fewer_candidates_than_n(model, data):
    subset = np.array(sorted(set(range(10)) - set(data[1].indices))[:3] + list(data[1].indices[:2]))
    ids, scores = model.recommend(1, data[1], N=10, items=subset)
    assert len(ids) == 3  # 1-D: shorter, no fake ids
    batch_ids, batch_scores = model.recommend(np.array([1, 1]), data[[1, 1]], N=10, items=subset)
    assert batch_ids.shape == (2, 5)  # columns: the candidate count; per-user shortfall padded
    np.testing.assert_array_equal(batch_ids[:, :3], np.vstack([ids, ids]))
    assert np.all(batch_ids[:, 3:] == -1) and np.all(np.isneginf(batch_scores[:, 3:]))


def test_n_larger_than_catalogue(model, data):
    ids, _ = model.recommend(0, data[0], N=10_000, filter_already_liked_items=False)
    assert sorted(ids) == list(range(50))


def test_checkerboard_top_recommendation_is_the_held_out_diagonal():
    n = 12
    dense = np.array([[1.0 if (u % 2 == i % 2 and u != i) else 0.0 for i in range(n)]
                      for u in range(n)])
    train = sp.csr_matrix(dense)
    model = mfkit.ALS(factors=4, regularization=0.01, alpha=10.0, iterations=15,
                      solver="cholesky", random_state=0).fit(train, show_progress=False)
    ids, _ = model.recommend(np.arange(n), train, N=1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(n))


def test_recalculate_user_is_the_dense_closed_form(data):
    model = mfkit.ALS(factors=6, iterations=3, random_state=1, dtype=np.float64,
                      regularization=0.3, alpha=5.0).fit(data, show_progress=False)
    history = sp.csr_matrix(np.where(np.arange(50) % 7 == 0, 2.0, 0.0)[None, :])
    Y = model.item_factors
    r = history.toarray()[0]
    C = np.diag(1 + 5.0 * np.abs(r))
    expected = np.linalg.solve(Y.T @ C @ Y + 0.3 * np.eye(6), Y.T @ C @ (r > 0))
    ids, scores = model.recommend(10_000, history, N=50, recalculate_user=True,
                                  filter_already_liked_items=False)  # a never-seen user id
    np.testing.assert_allclose(scores, np.sort(Y @ expected)[::-1], rtol=1e-10)


def test_recalculate_fitted_user_equals_stored_factor_after_exact_sweep(data):
    model = mfkit.ALS(factors=6, iterations=3, random_state=2, dtype=np.float64,
                      solver="cholesky").fit(data, show_progress=False)
    model.partial_fit_users(np.arange(80), data)  # a final exact user sweep
    for user in (0, 13, 70):
        stored = model.recommend(user, data[user], N=10)
        recalculated = model.recommend(user, data[user], N=10, recalculate_user=True)
        np.testing.assert_array_equal(stored[0], recalculated[0])
        np.testing.assert_allclose(stored[1], recalculated[1], rtol=1e-12)


def test_recalculate_matches_between_backends(data):
    kwargs = dict(factors=6, iterations=2, random_state=3, dtype=np.float64)
    cpp = mfkit.ALS(**kwargs).fit(data, show_progress=False)
    ref = mfkit.ALS(backend="reference", **kwargs).fit(data, show_progress=False)
    a = cpp.recommend(np.arange(5), data[:5], N=8, recalculate_user=True)
    b = ref.recommend(np.arange(5), data[:5], N=8, recalculate_user=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(userid=80), "userid"),
    (dict(userid=-1), "userid"),
    (dict(userid=1.5), "userid"),
    (dict(N=0), "N"),
    (dict(filter_items=[50]), "filter_items"),
    (dict(items=[-2]), "items"),
    (dict(items=[1, 1]), "items"),
    (dict(items=[1], filter_items=[2]), "filter_items"),
    (dict(user_items="full"), "user_items"),
    (dict(user_items=None), "user_items"),
    (dict(recalculate_user="yes"), "recalculate_user"),
])
def test_bad_arguments(model, data, kwargs, match):
    call = dict(userid=0, user_items=data[0], N=5)
    call.update(kwargs)
    if isinstance(call["user_items"], str):
        call["user_items"] = data  # the whole matrix for one user: a shape error
    with pytest.raises((ValueError, TypeError), match=match):
        model.recommend(**call)


def test_unfitted_model_raises():
    with pytest.raises(mfkit.NotFittedError):
        mfkit.ALS().recommend(0, None, filter_already_liked_items=False)


def test_input_not_modified(model, data):
    row = data[[4, 5]].copy()
    row.data[0] = 7.0
    before = (row.data.copy(), row.indices.copy(), row.indptr.copy())
    model.recommend(np.array([4, 5]), row, N=5, recalculate_user=True)
    for a, b in zip(before, (row.data, row.indices, row.indptr)):
        np.testing.assert_array_equal(a, b)
