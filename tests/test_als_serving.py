"""ALS serving beyond the common contract (test_contract.py): the checkerboard, recalculation
as the paper's closed form and across backends, and explain."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_implicit_matrix

import mfkit


@pytest.fixture(scope="module")
def data():
    return make_implicit_matrix(seed=5, n_users=80, n_items=50, density=0.12)


@pytest.fixture(scope="module")
def model(data):
    return mfkit.ALS(factors=8, iterations=4, random_state=0, dtype=np.float64,
                     num_threads=1).fit(data, show_progress=False)


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


def test_recalculate_matches_between_backends(data):
    kwargs = dict(factors=6, iterations=2, random_state=3, dtype=np.float64)
    cpp = mfkit.ALS(**kwargs).fit(data, show_progress=False)
    ref = mfkit.ALS(backend="reference", **kwargs).fit(data, show_progress=False)
    a = cpp.recommend(np.arange(5), data[:5], N=8, recalculate_user=True)
    b = ref.recommend(np.arange(5), data[:5], N=8, recalculate_user=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9)


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


def test_explain_weights_are_tied_to_the_user_and_history(data):
    model = mfkit.ALS(factors=8, iterations=4, random_state=0, dtype=np.float64,
                      num_threads=1).fit(data, show_progress=False)
    score, _, weights = model.explain(4, data[4], 10)
    with pytest.raises(ValueError, match="user_weights .*user 4, not user 5"):
        model.explain(5, data[5], 10, user_weights=weights)  # was: user 4's answer, silently
    assert weights.userid == 4
    with pytest.raises(ValueError, match="user_weights .*another history"):
        model.explain(4, data[5], 10, user_weights=weights)
    changed = data[4].copy()
    changed.data[0] *= 2  # same items, another value
    with pytest.raises(ValueError, match="user_weights .*another history"):
        model.explain(4, changed, 10, user_weights=weights)
    with pytest.raises(dataclasses.FrozenInstanceError):
        weights.userid = 5
    with pytest.raises(ValueError, match="read-only"):
        weights.cho_factor[0][0, 0] = 1.0
    assert model.explain(4, data[4], 10, user_weights=weights)[0] == score
    model.fit(data, show_progress=False)  # new item factors
    with pytest.raises(ValueError, match="user_weights .*fitted again"):
        model.explain(4, data[4], 10, user_weights=weights)


def test_explain_bad_arguments(model, data):
    with pytest.raises(ValueError, match="itemid"):
        model.explain(0, data[0], data.shape[1])  # one past the last item
    with pytest.raises(ValueError, match="user_items"):
        model.explain(0, data[:2], 1)
    with pytest.raises(ValueError, match="user_weights"):
        model.explain(0, data[0], 1, user_weights=(np.eye(2), False))
    with pytest.raises(ValueError, match="userid"):
        model.explain([0, 1], data[0], 1)
