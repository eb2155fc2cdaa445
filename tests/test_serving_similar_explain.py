"""similar_items / similar_users, explain, partial fits and the top-k kernel."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import _cpp, reference

from conftest import make_implicit_matrix


@pytest.fixture(scope="module")
def data():
    return make_implicit_matrix(seed=6, n_users=70, n_items=45, density=0.12)


@pytest.fixture(scope="module")
def model(data):
    return mfkit.ALS(factors=8, iterations=4, random_state=0, dtype=np.float64,
                     num_threads=1).fit(data, show_progress=False)


def cosine(factors):
    norms = np.linalg.norm(factors, axis=1)
    unit = factors / np.where(norms > 0, norms, 1)[:, None]
    return unit @ unit.T


@pytest.mark.parametrize("kind", ["item", "user"])
def test_similar_matches_brute_force_cosine(model, kind):
    factors = model.item_factors if kind == "item" else model.user_factors
    similar = model.similar_items if kind == "item" else model.similar_users
    sims = cosine(factors)
    for query in (0, 11, 30):
        if not factors[query].any():
            continue
        ids, scores = similar(query, N=6)
        assert ids[0] == query and scores[0] == pytest.approx(1.0, abs=1e-9)
        expected = np.lexsort((np.arange(len(sims)), -sims[query]))[:6]
        np.testing.assert_array_equal(ids, expected)
        np.testing.assert_allclose(scores, sims[query][expected], rtol=1e-9)


def test_similar_items_batch_and_filters(model):
    queries = np.array([1, 2, 3])
    ids, scores = model.similar_items(queries, N=5, filter_items=[1, 2])
    assert ids.shape == (3, 5)
    assert not np.isin(ids, [1, 2]).any()
    for row, query in enumerate(queries):
        one = model.similar_items(int(query), N=5, filter_items=[1, 2])
        np.testing.assert_array_equal(ids[row], one[0])
    subset = np.array([4, 9, 16])
    ids, _ = model.similar_items(9, N=10, items=subset)
    assert ids[0] == 9 and set(ids) == set(subset)
    with pytest.raises(ValueError, match="filter_users"):
        model.similar_users(0, filter_users=[1], users=[2])


def test_similar_items_recalculated_new_item(model, data):
    column = data[:, [3]].T.tocsr()  # item 3's users, as a new item
    ids, scores = model.similar_items(999, N=3, recalculate_item=True, item_users=column)
    assert len(ids) == 3 and np.all(np.diff(scores) <= 1e-12)
    with pytest.raises(ValueError, match="item_users"):
        model.similar_items(999, recalculate_item=True, item_users=data.T.tocsr())


def test_explain_contributions_sum_to_recalculated_score(model, data):
    user = 4
    row = data[user]
    recalculated = model._fold_in_users(row)[0]
    for item in (0, 10, 44):
        score, pairs, weights = model.explain(user, row, item, N=100)
        assert score == pytest.approx(float(model.item_factors[item] @ recalculated), rel=1e-9)
        liked = set(row.indices[row.data > 0])
        assert {j for j, _ in pairs} == liked
        assert sum(c for _, c in pairs) == pytest.approx(score, rel=1e-9, abs=1e-12)
        magnitudes = [abs(c) for _, c in pairs]
        assert magnitudes == sorted(magnitudes, reverse=True)
        again = model.explain(user, row, item, N=2, user_weights=weights)
        assert again[0] == pytest.approx(score, rel=1e-12) and again[1] == pairs[:2]


def test_explain_bad_arguments(model, data):
    with pytest.raises(ValueError, match="itemid"):
        model.explain(0, data[0], 45)
    with pytest.raises(ValueError, match="user_items"):
        model.explain(0, data[:2], 1)
    with pytest.raises(ValueError, match="user_weights"):
        model.explain(0, data[0], 1, user_weights=(np.eye(2), False))


def test_partial_fit_users_grows_and_leaves_others(data):
    model = mfkit.ALS(factors=5, iterations=2, random_state=0).fit(data, show_progress=False)
    before = model.user_factors.copy()
    items_before = model.item_factors.copy()
    new_rows = data[[2, 3]]
    model.partial_fit_users(np.array([5, 72]), new_rows)
    assert model.user_factors.shape == (73, 5)
    untouched = [u for u in range(70) if u != 5]
    np.testing.assert_array_equal(model.user_factors[untouched], before[untouched])
    assert not model.user_factors[70:72].any()  # the gap ids: no history, zero factors
    np.testing.assert_allclose(model.user_factors[5], model._fold_in_users(data[[2]])[0])
    np.testing.assert_array_equal(model.item_factors, items_before)
    ids, _ = model.recommend(72, data[3], N=3)  # the grown user is servable
    assert len(ids) == 3


def test_partial_fit_items(data):
    model = mfkit.ALS(factors=5, iterations=2, random_state=0).fit(data, show_progress=False)
    before = model.item_factors.copy()
    model.partial_fit_items([0], data[:, [1]].T.tocsr())
    np.testing.assert_array_equal(model.item_factors[1:], before[1:])
    with pytest.raises(ValueError, match="itemids"):
        model.partial_fit_items([0, 0], data[:, [1, 2]].T.tocsr())


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
