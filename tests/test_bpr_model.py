"""BPR as a model: learning, sampling statistics, divergence, fold-in, the score formula
and evaluation (serving and persistence as every model: test_contract.py)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._cpp as cpp
from mfkit._validation import check_user_items
from mfkit.models.bpr import positive_entries


def fit(matrix, callback=None, **params):
    params = {"factors": 8, "iterations": 5, "random_state": 0, **params}
    return mfkit.BPR(**params).fit(matrix, callback=callback, show_progress=False)


def checkerboard(n_users=40, n_items=30, groups=2):
    """User u likes exactly the items of its group (u % groups == i % groups)."""
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    return sp.csr_matrix(((users % groups) == (items % groups)).astype(np.float32))


def auc_curve(matrix, **params):
    infos = []
    model = fit(matrix, callback=lambda epoch, elapsed, info: infos.append(info), **params)
    return model, [info["auc"] for info in infos]


# ------------------------------------------------------------------------------- learning
def test_training_auc_rises_on_the_checkerboard():
    matrix = checkerboard()
    model, auc = auc_curve(matrix, iterations=30, learning_rate=0.1)
    assert auc[-1] > auc[0] + 0.2 and auc[-1] > 0.95
    # the model ranks every user's own group above the other group
    scores = model.user_factors @ model.item_factors.T + model.item_bias
    liked = matrix.toarray() > 0
    for u in range(matrix.shape[0]):
        assert scores[u, liked[u]].min() > scores[u, ~liked[u]].max()


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_training_auc_rises_on_synthetic_data(sampling):
    matrix = mfkit.datasets.synthetic(400, 200, 0.05, seed=1)
    _, auc = auc_curve(matrix, iterations=20, negative_sampling=sampling, factors=16)
    assert auc[-1] > auc[0] + 0.05
    assert np.mean(auc[-5:]) > np.mean(auc[:5])


def test_held_out_ranking_beats_popularity_on_synthetic_data():
    matrix = mfkit.datasets.synthetic(500, 200, 0.05, seed=2)
    train, test = mfkit.evaluation.leave_k_out_split(matrix, K=3, random_state=0)
    model = fit(train, iterations=40, factors=16)
    ours = mfkit.evaluation.ranking_metrics(model, train, test, K=10)
    assert ours["auc"] > 0.8 and ours["ndcg"] > 0


def test_update_formula_by_hand():
    # One triple through the C++ kernel against the formulas of Rendle et al. written out.
    rng = np.random.default_rng(0)
    X, Y, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    u, i, j, lr, lam = 1, 2, 0, 0.3, 0.05
    x, yi, yj = X[u].copy(), Y[i].copy(), Y[j].copy()
    d = x @ (yi - yj) + b[i] - b[j]
    g = 1 / (1 + np.exp(d))
    expected = {
        "x": x + lr * (g * (yi - yj) - lam * x),
        "yi": yi + lr * (g * x - lam * yi),
        "yj": yj + lr * (-g * x - lam * yj),
        "bi": b[i] + lr * (g - lam * b[i]),
        "bj": b[j] + lr * (-g - lam * b[j]),
    }
    stats = cpp.bpr_update(X, Y, b, np.array([u], np.int32), np.array([i], np.int32),
                           np.array([j], np.int32), learning_rate=lr, regularization=lam,
                           num_threads=1)
    np.testing.assert_allclose(X[u], expected["x"], rtol=1e-14)
    np.testing.assert_allclose(Y[i], expected["yi"], rtol=1e-14)
    np.testing.assert_allclose(Y[j], expected["yj"], rtol=1e-14)
    np.testing.assert_allclose([b[i], b[j]], [expected["bi"], expected["bj"]], rtol=1e-14)
    assert stats["updates"] == 1 and stats["ranked"] == (2 if d > 0 else 0)


# ------------------------------------------------------------------------- sampling, info
def test_callback_receives_epoch_seconds_and_info(small_matrix):
    calls = []
    model = fit(small_matrix, callback=lambda *args: calls.append(args), iterations=4)
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    for epoch, elapsed, info in calls:
        assert isinstance(epoch, int) and isinstance(elapsed, float) and elapsed >= 0
        assert set(info) == {"auc", "rejected", "skipped"}
        assert 0 <= info["auc"] <= 1 and 0 <= info["rejected"] < 1
        assert info["skipped"] == 0
    assert isinstance(model, mfkit.BPR)


def test_rejected_share_is_reported_and_zero_without_verification():
    matrix = mfkit.datasets.synthetic(100, 20, 0.4, seed=0)  # dense: many rejections
    shares = {}
    for verify in (True, False):
        infos = []
        fit(matrix, verify_negative_samples=verify, iterations=2,
            callback=lambda e, t, info, infos=infos: infos.append(info))
        shares[verify] = infos[-1]["rejected"]
    assert shares[True] > 0.2 and shares[False] == 0


def test_user_with_every_item_is_skipped_and_counted():
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))
    infos = []
    model = fit(matrix, iterations=3, callback=lambda e, t, info: infos.append(info))
    assert all(info["skipped"] > 0 for info in infos)
    assert np.all(np.isfinite(model.user_factors))


@pytest.mark.parametrize("sampling,expected", [("uniform", None), ("popularity", "counts")])
def test_negative_distribution(sampling, expected):
    matrix = mfkit.datasets.synthetic(2000, 50, 0.1, seed=3)
    positives = positive_entries(check_user_items(matrix, np.dtype(np.float32)))
    _, _, neg, _ = cpp.bpr_sample(positives, cpp.bpr_index(positives),
                                  negative_sampling=sampling, verify_negative_samples=False,
                                  seed=11, num_threads=2)
    observed = np.bincount(neg, minlength=50) / len(neg)
    counts = np.bincount(positives.indices, minlength=50)
    target = np.full(50, 1 / 50) if expected is None else counts / counts.sum()
    assert np.abs(observed - target).max() < 0.01


def test_stored_negative_values_are_not_positives(small_matrix):
    # A user whose only entries are dislikes behaves like an empty user (zero factor), and the
    # disliked items may be sampled as that user's negatives.
    matrix = small_matrix.tolil()
    matrix[0, :] = 0
    matrix[0, [1, 2]] = -3.0
    matrix = matrix.tocsr()
    model = fit(matrix)
    assert np.all(model.user_factors[0] == 0)
    assert model.item_popularity.sum() == (matrix.data > 0).sum()


# ---------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_huge_learning_rate_raises_instead_of_returning_nan(small_matrix, dtype, backend):
    model = mfkit.BPR(factors=4, iterations=30, learning_rate=1e6, regularization=0.0,
                      dtype=dtype, random_state=0, backend=backend)
    with pytest.raises(mfkit.NumericalError, match="learning_rate"):
        model.fit(small_matrix, show_progress=False)
    assert not hasattr(model, "user_factors")


@pytest.mark.parametrize("learning_rate", [0.5, 2.0, 20.0])
def test_large_learning_rates_never_give_nan(small_matrix, learning_rate):
    try:
        model = fit(small_matrix, learning_rate=learning_rate, iterations=20)
    except mfkit.NumericalError:
        return
    for name in ("user_factors", "item_factors", "item_bias"):
        assert np.all(np.isfinite(getattr(model, name)))


# ------------------------------------------------------------------- empty and tiny inputs
def test_empty_users_get_zero_factors_and_empty_items_are_trained(small_matrix):
    empty_users = np.flatnonzero((small_matrix > 0).getnnz(axis=1) == 0)
    empty_items = np.flatnonzero((small_matrix > 0).getnnz(axis=0) == 0)
    assert len(empty_users) and len(empty_items)
    model = fit(small_matrix)
    assert np.all(model.user_factors[empty_users] == 0)
    # uniform negatives reach every item: never-liked items are pushed down
    assert np.all(model.item_bias[empty_items] < 0)


def test_popularity_sampling_ranks_never_liked_items_last(small_matrix):
    empty_items = np.flatnonzero((small_matrix > 0).getnnz(axis=0) == 0)
    model = fit(small_matrix, negative_sampling="popularity")
    assert np.all(model.item_factors[empty_items] == 0)
    assert np.all(model.item_bias[empty_items] == model.item_bias.min())


@pytest.mark.parametrize("matrix", [
    np.array([[1.0]]), np.array([[1.0, 0.0, 2.0, 0.0]]), np.array([[1.0], [0.0], [3.0]]),
    np.zeros((3, 4)), np.array([[0.0, -1.0], [2.0, 0.0]]),
], ids=["1x1", "one-user", "one-item", "no-entries", "2x2-negative"])
@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_tiny_matrices(matrix, backend):
    model = fit(matrix, factors=3, backend=backend)
    assert model.user_factors.shape == (matrix.shape[0], 3)
    assert model.item_factors.shape == (matrix.shape[1], 3)
    assert model.item_bias.shape == (matrix.shape[1],)
    assert np.all(np.isfinite(model.user_factors)) and np.all(np.isfinite(model.item_factors))
    ids, scores = model.recommend(0, sp.csr_matrix(matrix[:1]), N=2)
    assert len(ids) <= 2


def test_single_user_ranks_liked_items_first():
    matrix = sp.csr_matrix(np.array([[1.0, 0.0, 2.0, 0.0, 3.0, 0.0, 0.0, 0.0]]))
    model = fit(matrix, iterations=200, learning_rate=0.1, dtype=np.float64)
    scores = model.item_factors @ model.user_factors[0] + model.item_bias
    assert scores[[0, 2, 4]].min() > scores[[1, 3, 5, 6, 7]].max()


def test_more_factors_than_items():
    matrix = mfkit.datasets.synthetic(30, 6, 0.3, seed=1)
    model = fit(matrix, factors=10)
    assert model.item_factors.shape == (6, 10) and np.all(np.isfinite(model.item_factors))


# ------------------------------------------------------------------------------ fold-in
@pytest.fixture(scope="module")
def fitted():
    matrix = mfkit.datasets.synthetic(300, 120, 0.06, seed=5)
    model = mfkit.BPR(factors=16, iterations=30, random_state=0, learning_rate=0.05)
    return model.fit(matrix, show_progress=False), matrix


def test_fold_in_is_deterministic_and_independent_of_the_batch(fitted):
    model, matrix = fitted
    rows = matrix[[3, 10, 42]]
    a, _ = model.recommend(np.array([3, 10, 42]), rows, N=5, recalculate_user=True)
    b, _ = model.recommend(np.array([3, 10, 42]), rows, N=5, recalculate_user=True)
    c, _ = model.recommend(10, matrix[10], N=5, recalculate_user=True)
    assert np.array_equal(a, b) and np.array_equal(a[1], c)
    folded = model._fold_in_users(check_user_items(rows, model.item_factors.dtype))
    alone = model._fold_in_users(check_user_items(matrix[[10]], model.item_factors.dtype))
    assert np.array_equal(folded[1], alone[0])


def test_fold_in_of_a_training_user_agrees_with_its_trained_factor(fitted):
    model, matrix = fitted
    users = np.arange(40)
    rows = check_user_items(matrix[users], model.item_factors.dtype)
    folded = model._fold_in_users(rows)
    trained = model._ranking_users(model.user_factors[users]) @ model._ranking_items().T
    refit = model._ranking_users(folded) @ model._ranking_items().T
    correlations = [np.corrcoef(trained[u], refit[u])[0, 1] for u in range(len(users))]
    assert np.median(correlations) > 0.8
    # and it ranks the user's own items high (within-row AUC)
    liked = rows.toarray() > 0
    aucs = [np.mean(refit[u][liked[u]][:, None] > refit[u][~liked[u]][None, :])
            for u in range(len(users)) if liked[u].any()]
    assert np.mean(aucs) > 0.8


def test_fold_in_of_a_new_user_and_partial_fit(fitted):
    model, matrix = fitted
    new_user = sp.csr_matrix(matrix[7].toarray())
    ids, scores = model.recommend(1000, new_user, N=10, recalculate_user=True)
    assert len(ids) == 10 and not set(ids) & set(new_user.indices)
    grown = pickle.loads(pickle.dumps(model)).partial_fit_users([300], new_user)
    assert grown.user_factors.shape == (301, 16)
    empty = sp.csr_matrix((1, matrix.shape[1]))
    assert np.all(model._fold_in_users(empty) == 0)


def test_fold_in_seed_follows_random_state(fitted):
    model, matrix = fitted
    rows = check_user_items(matrix[:5], model.item_factors.dtype)
    first = model._fold_in_users(rows)
    other = pickle.loads(pickle.dumps(model)).set_params(random_state=99)
    assert not np.array_equal(first, other._fold_in_users(rows))


def test_recommend_ranks_by_factors_plus_item_bias(fitted):
    model, matrix = fitted
    ids, scores = model.recommend(4, matrix[4], N=8)
    expected = model.item_factors @ model.user_factors[4] + model.item_bias
    np.testing.assert_allclose(scores, expected[ids], rtol=1e-5)
    expected[matrix[4].indices] = -np.inf
    assert np.array_equal(ids, np.argsort(-expected, kind="stable")[:8])


def test_evaluation_works(fitted):
    model, matrix = fitted
    train, test = mfkit.evaluation.leave_k_out_split(matrix, K=2, random_state=0)
    metrics = mfkit.evaluation.ranking_metrics(model, train, test, K=5)
    assert 0 <= metrics["ndcg"] <= 1


@pytest.mark.parametrize("learning_rate", [1e3, 1e36, 3e38])
def test_fold_in_with_huge_learning_rates_never_gives_nan(fitted, learning_rate):
    model, matrix = fitted
    broken = pickle.loads(pickle.dumps(model)).set_params(learning_rate=learning_rate,
                                                          regularization=0.0)
    rows = check_user_items(matrix[:20], model.item_factors.dtype)
    try:
        folded = broken._fold_in_users(rows)
    except mfkit.NumericalError as error:
        assert "learning_rate" in str(error)
        return
    assert np.all(np.isfinite(folded))
