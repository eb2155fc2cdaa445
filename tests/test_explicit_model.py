"""ExplicitMF behaviour: the classic tutorial tables, loss, determinism, predict, serving,
persistence and cross-validation."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import ExplicitMF

# The two rating tables of the classic "matrix factorization with gradient descent" tutorial
# (0 = missing), which fits them with k = 2.
TUTORIAL_4X4 = np.array([
    [0, 4.5, 2.0, 0],
    [4, 0, 3.5, 0],
    [0, 5, 0, 2],
    [0, 3.5, 4.0, 1.0],
])
TUTORIAL_5X4 = np.array([
    [2, 5, 1, 3],
    [4, 0, 0, 1],
    [0, 4, 2, 0],
    [2, 4, 3, 1],
    [1, 3, 2, 0],
])


def ratings(seed=0, n_users=40, n_items=25, density=0.3):
    """Ratings from a low-rank model plus noise, rounded to half stars in [0.5, 5]."""
    rng = np.random.default_rng(seed)
    P, Q = rng.standard_normal((n_users, 3)), rng.standard_normal((n_items, 3))
    full = np.clip(np.round((3 + 0.6 * P @ Q.T + rng.normal(0, 0.3, (n_users, n_items))) * 2) / 2,
                   0.5, 5)
    mask = rng.random((n_users, n_items)) < density
    rows, cols = np.nonzero(mask)
    return sp.csr_matrix((full[rows, cols], (rows, cols)), shape=(n_users, n_items))


def fit(matrix, **params):
    params.setdefault("factors", 4)
    params.setdefault("iterations", 10)
    params.setdefault("random_state", 0)
    return ExplicitMF(**params).fit(matrix, show_progress=False)


# ------------------------------------------------------------------------- the tutorial tables
TUTORIAL_FITS = {
    "sgd": dict(factors=2, iterations=3000, learning_rate=0.01, regularization=0.02),
    "als": dict(factors=2, iterations=200, regularization=0.001),
}


@pytest.mark.parametrize("table", [TUTORIAL_4X4, TUTORIAL_5X4], ids=["4x4", "5x4"])
@pytest.mark.parametrize("solver", ["sgd", "als"])
@pytest.mark.parametrize("biased", [True, False])
def test_tutorial_tables(table, solver, biased):
    params = dict(TUTORIAL_FITS[solver])
    if not biased and table is TUTORIAL_5X4:
        # 15 ratings but only 14 degrees of freedom in an unbiased rank-2 model (the exact ALS
        # optimum misses by RMSE 0.26; the tutorial's own fit misses R[4, 0] by 0.39): rank 3.
        params["factors"] = 3
    model = fit(table, solver=solver, biased=biased, dtype=np.float64, **params)
    users, items = np.nonzero(table)
    filled = model.predict(*np.indices(table.shape).reshape(2, -1), clip=False).reshape(
        table.shape)
    observed = table[users, items]
    rmse = np.sqrt(np.mean((filled[users, items] - observed) ** 2))
    assert rmse < 0.1
    assert np.max(np.abs(filled[users, items] - observed)) < 0.3
    assert np.all(np.isfinite(filled))
    assert model.loss_history[-1] < model.loss_history[0]


# ------------------------------------------------------------------------- loss and determinism
@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_loss_decreases(solver):
    matrix = ratings(1)
    model = fit(matrix, solver=solver, iterations=15, factors=5, learning_rate=0.03,
                regularization=0.05, dtype=np.float64)
    history = np.array(model.loss_history)
    assert len(history) == 15
    assert np.all(np.diff(history) <= 1e-9 * history[:-1])  # SGD with a small step, ALS exactly
    assert history[-1] < 0.8 * history[0]
    assert model.loss(matrix) == pytest.approx(history[-1], rel=1e-12)


@pytest.mark.parametrize("solver", ["sgd", "als"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_deterministic_and_thread_independent(monkeypatch, solver, dtype):
    monkeypatch.setattr(mfkit.models.explicit, "SGD_BLOCK_RATINGS", 16)  # several blocks
    matrix = ratings(2, 60, 40, 0.4)
    models = [fit(matrix, solver=solver, dtype=dtype, random_state=5, num_threads=threads,
                  learning_rate=0.01) for threads in (1, 2, 3, 1)]
    for other in models[1:]:
        for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
            assert np.array_equal(getattr(models[0], name), getattr(other, name)), name
        assert models[0].loss_history == other.loss_history
    different = fit(matrix, solver=solver, dtype=dtype, random_state=6, learning_rate=0.01)
    assert not np.array_equal(different.item_factors, models[0].item_factors)


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_thread_independent_when_really_parallel(solver):
    """~130k ratings: large enough that every kernel (shuffle, SGD epoch, ALS solves, loss)
    runs its parallel region with several threads (smaller inputs run single-threaded)."""
    rng = np.random.default_rng(0)
    mask = rng.random((500, 400)) < 0.65
    rows, cols = np.nonzero(mask)
    matrix = sp.csr_matrix((rng.integers(1, 11, len(rows)) / 2.0, (rows, cols)),
                           shape=mask.shape)
    models = [fit(matrix, solver=solver, factors=16, iterations=2, random_state=3,
                  num_threads=threads) for threads in (1, 2, 4)]
    for other in models[1:]:
        for name in ("user_factors", "item_factors", "user_bias", "item_bias"):
            assert np.array_equal(getattr(models[0], name), getattr(other, name)), name
        assert models[0].loss_history == other.loss_history


def test_callback_and_generator_random_state():
    calls = []
    model = ExplicitMF(factors=3, iterations=4, random_state=np.random.default_rng(0))
    model.fit(ratings(3), callback=lambda *args: calls.append(args), show_progress=False)
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert [c[2] for c in calls] == model.loss_history
    assert all(c[1] >= 0 for c in calls)


# ------------------------------------------------------------------------- inputs
def test_stored_zero_is_a_rating_but_dense_zero_is_missing():
    dense = np.array([[5.0, 0.0, 3.0], [4.0, 2.0, 0.0]])
    with_zero = sp.csr_matrix(dense)
    with_zero = sp.csr_matrix((np.append(with_zero.data, 0.0),
                               np.append(with_zero.indices, 2), [0, 2, 5]), shape=(2, 3))
    with_zero.sort_indices()
    from_dense = fit(dense, iterations=2)
    from_sparse = fit(with_zero, iterations=2)
    assert from_dense.global_mean == pytest.approx(14 / 4)
    assert from_sparse.global_mean == pytest.approx(14 / 5)
    assert from_sparse.rating_range[0] == 0.0


def test_interactions_give_the_global_mean_of_their_ratings(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating\n10,100,4\n10,200,3.5\n20,100,5\n30,300,1\n")
    data = mfkit.datasets.from_csv(path, user_col="userId", item_col="movieId",
                                   value_col="rating")
    model = fit(data, iterations=3)
    assert list(model.user_ids) == [10, 20, 30]
    assert model.global_mean == pytest.approx(13.5 / 4)


# ------------------------------------------------------------------------- predict
def test_predict_is_the_formula():
    model = fit(ratings(5), dtype=np.float64)
    users = np.array([0, 3, 7, 7])
    items = np.array([1, 1, 0, 24])
    want = (model.global_mean + model.user_bias[users] + model.item_bias[items]
            + np.einsum("ij,ij->i", model.user_factors[users], model.item_factors[items]))
    np.testing.assert_allclose(model.predict(users, items, clip=False), want, rtol=1e-12)
    lo, hi = model.rating_range
    np.testing.assert_allclose(model.predict(users, items), np.clip(want, lo, hi), rtol=1e-12)
    assert isinstance(model.predict(3, 1), float)
    assert model.predict(3, 1, clip=False) == pytest.approx(want[1])
    # broadcasting: one user, many items
    row = model.predict(7, np.arange(25), clip=False)
    assert row.shape == (25,) and row[0] == pytest.approx(want[2])


def test_predict_unknown_users_and_items_fall_back():
    matrix = ratings(6).tolil()
    matrix[2, :] = 0  # user 2 has no training rating
    matrix = matrix.tocsr()
    matrix.eliminate_zeros()
    model = fit(matrix, dtype=np.float64)
    n_users, n_items = matrix.shape
    users = np.array([0, n_users + 5, 0, n_users, 2])
    items = np.array([1, 1, n_items, n_items + 1, 3])
    with pytest.warns(UserWarning, match="4 of 5 pairs"):
        got = model.predict(users, items, clip=False)
    mu, bu, bi = model.global_mean, model.user_bias, model.item_bias
    assert got[1] == pytest.approx(mu + bi[1])  # unknown user: μ + b_i
    assert got[2] == pytest.approx(mu + bu[0])  # unknown item: μ + b_u
    assert got[3] == pytest.approx(mu)  # both unknown
    assert got[4] == pytest.approx(mu + bi[3])  # known id, but no training rating
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, known = model.predict(users, items, return_known=True)
    assert known.tolist() == [True, False, False, False, False]


def test_predict_unbiased_unknown_is_global_mean():
    model = fit(ratings(7), biased=False)
    value, known = model.predict(10**6, 0, return_known=True)
    assert not known and value == pytest.approx(model.global_mean)
    assert np.all(model.user_bias == 0) and np.all(model.item_bias == 0)


# ------------------------------------------------------------------------- serving
@pytest.mark.parametrize("biased", [True, False])
def test_recommend_ranks_by_predicted_rating(biased):
    matrix = ratings(8)
    model = fit(matrix, biased=biased, dtype=np.float64)
    predicted = model.predict(5, np.arange(matrix.shape[1]), clip=False)
    ids, scores = model.recommend(5, matrix[5], N=5)
    rated = set(matrix[5].indices)
    candidates = [i for i in np.argsort(-predicted, kind="stable") if i not in rated]
    assert list(ids) == candidates[:5]
    np.testing.assert_allclose(scores, predicted[ids], rtol=1e-12)
    batch_ids, batch_scores = model.recommend(np.array([5, 6]), matrix[[5, 6]], N=5)
    assert list(batch_ids[0]) == list(ids)
    np.testing.assert_allclose(batch_scores[0], scores, rtol=1e-12)


def test_recalculate_user_is_the_exact_solve():
    matrix = ratings(9)
    model = fit(matrix, dtype=np.float64)  # SGD: the fold-in is still the exact ALS-WR solve
    row = matrix[4]
    Z = np.hstack([model.item_factors[row.indices], np.ones((row.nnz, 1))])
    t = row.data - model.global_mean - model.item_bias[row.indices]
    x = np.linalg.solve(Z.T @ Z + model.regularization * row.nnz * np.eye(Z.shape[1]), Z.T @ t)
    solved, bias = model._fold_in(row, "user")
    np.testing.assert_allclose(solved[0], x[:-1], rtol=1e-9)
    assert bias[0] == pytest.approx(x[-1], rel=1e-9)
    # recommend ranks (and scores) with the folded-in user: a new id works the same.
    want = model.global_mean + x[-1] + model.item_bias + model.item_factors @ x[:-1]
    want[row.indices] = -np.inf
    for userid in (4, 10**6):
        ids, scores = model.recommend(userid, row, N=3, recalculate_user=True)
        assert list(ids) == list(np.argsort(-want, kind="stable")[:3])
        np.testing.assert_allclose(scores, want[ids], rtol=1e-9)
    # partial_fit_users stores exactly that solve
    model.partial_fit_users([4], row)
    np.testing.assert_allclose(model.user_factors[4], x[:-1], rtol=1e-9)
    assert model.user_bias[4] == pytest.approx(x[-1], rel=1e-9)


def test_partial_fit_users_grows_factors_and_biases():
    matrix = ratings(10)
    model = fit(matrix)
    n_users = matrix.shape[0]
    model.partial_fit_users([n_users + 1, n_users], matrix[[0, 1]])  # new ids, any order
    assert model.user_factors.shape == (n_users + 2, 4)
    assert model.user_bias.shape == (n_users + 2,)
    solved, bias = model._fold_in(matrix[[0, 1]], "user")
    np.testing.assert_allclose(model.user_factors[[n_users + 1, n_users]], solved)
    np.testing.assert_array_equal(model.user_bias[[n_users + 1, n_users]], bias)
    assert model.predict(n_users + 1, 3, return_known=True)[1]


def test_ranking_metrics_use_the_biases():
    matrix = ratings(11).tocoo()
    held_out = np.arange(matrix.nnz) % 5 == 0
    train, test = (sp.csr_matrix((matrix.data[m], (matrix.row[m], matrix.col[m])),
                                 shape=matrix.shape) for m in (~held_out, held_out))
    model = fit(train)
    result = mfkit.evaluation.ranking_metrics(model, train, test, K=5)
    assert result["users"] > 0 and 0 <= result["precision"] <= 1
    queries = model._ranking_users(model.user_factors)
    targets = model._ranking_items()
    scores = queries @ targets.T
    predicted = model.predict(np.repeat(np.arange(3), 25), np.tile(np.arange(25), 3),
                              clip=False).reshape(3, 25)
    offsets = predicted - scores[:3]
    np.testing.assert_allclose(offsets, offsets[:, :1] * np.ones((1, 25)), atol=1e-5)


# ------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_loaded_model_predicts_the_same(tmp_path, solver):
    model = fit(ratings(12), solver=solver, learning_rate=0.01)
    path = tmp_path / "explicit.npz"
    model.save(path)
    loaded = mfkit.load(path)
    assert loaded.global_mean == model.global_mean
    users, items = np.arange(10), np.arange(10)
    assert np.array_equal(loaded.predict(users, items), model.predict(users, items))


# ------------------------------------------------------------------------- cross-validation
def test_cross_validate():
    matrix = ratings(13, 60, 30, 0.4)
    model = ExplicitMF(factors=3, iterations=5, random_state=0)
    result = mfkit.evaluation.cross_validate(model, matrix, folds=4, random_state=1)
    for key in ("rmse", "mae", "fit_time", "test_time", "unknown"):
        assert result[key].shape == (4,)
    assert np.all(result["mae"] <= result["rmse"]) and np.all(result["rmse"] < 2)
    sizes = np.bincount(result["fold"])
    assert len(sizes) == 4 and sizes.max() - sizes.min() <= 1 and sizes.sum() == matrix.nnz
    again = mfkit.evaluation.cross_validate(model, matrix, folds=result["fold"])
    np.testing.assert_array_equal(again["rmse"], result["rmse"])
    assert not hasattr(model, "user_factors")  # the model itself is not fitted
    with pytest.raises(ValueError, match="folds"):
        mfkit.evaluation.cross_validate(model, matrix, folds=1)
    with pytest.raises(ValueError, match="one fold id per stored rating"):
        mfkit.evaluation.cross_validate(model, matrix, folds=np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="model"):
        mfkit.evaluation.cross_validate(object(), matrix)
