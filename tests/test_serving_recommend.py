"""recommend: agreement with brute force, filters, batches, padding, recalculation, errors."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit

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
