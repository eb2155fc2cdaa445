"""The contract every model keeps: serving API, partial fits, persistence, scikit-learn protocol,
and the validation of parameters and training data.

Each model is one line of ``MODELS``: its class, a fast deterministic fit, the kind of data it
fits and its table of invalid constructor arguments. Expected values are computed here by brute
force from the model's own ranking vectors (``_ranking_users`` / ``_ranking_items``).
"""
from __future__ import annotations

import contextlib
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import EMPTY_USER, make_implicit_matrix

import mfkit

N_USERS, N_ITEMS = 60, 40


# ------------------------------------------------------------------------- kinds of training data
def implicit_data():
    """Implicit feedback: varied positive weights, some dislikes, an empty user and item."""
    return make_implicit_matrix(seed=0, n_users=N_USERS, n_items=N_ITEMS)


def counts_data():
    """Non-negative values on the same pattern (what NMF factorizes)."""
    return abs(implicit_data())


def ratings_data():
    """Half-star ratings in [0.5, 5] on the same pattern (every stored entry is a rating)."""
    matrix = implicit_data()
    matrix.data = np.random.default_rng(0).integers(1, 11, size=matrix.nnz) / 2.0
    return matrix


# ------------------------------------------------------------------- invalid constructor arguments
def bad(name, value, error=ValueError, match=None, **others):
    """A row of a table: fitting with ``name=value`` (and ``others``) raises ``error`` whose
    message contains ``match`` (default: the parameter's name)."""
    return {name: value, **others}, error, match or name


ALS_BAD = [
    bad("factors", 0), bad("factors", -1), bad("iterations", 0), bad("iterations", -3),
    bad("cg_steps", 0), bad("regularization", -1.0), bad("regularization", np.inf),
    bad("alpha", np.nan), bad("alpha", -0.5), bad("regularization_exponent", -1.0),
    bad("solver", "foo"), bad("solver", None), bad("backend", "foo"), bad("dtype", np.int32),
    bad("dtype", np.float16), bad("num_threads", -1), bad("random_state", -1),
    bad("num_threads", 2**40), bad("cg_steps", 2**40, solver="cg"),
    bad("factors", 2.5, TypeError), bad("factors", "3", TypeError),
    bad("factors", True, TypeError), bad("iterations", 1.0, TypeError),
    bad("cg_steps", None, TypeError), bad("num_threads", 1.5, TypeError),
    bad("regularization", "0.1", TypeError), bad("alpha", None, TypeError),
    bad("random_state", "x", TypeError), bad("random_state", 1.5, TypeError),
    bad("calculate_training_loss", 1, TypeError), bad("dtype", "not-a-dtype", TypeError),
    bad("block_size", 0), bad("block_sweeps", 0), bad("block_size", 2.5, TypeError),
    bad("regularization_scheme", "foo"), bad("regularization_scheme", "frequency", alpha=0.0),
]
BPR_BAD = [
    bad("factors", 0), bad("iterations", 0), bad("learning_rate", 0.0),
    bad("learning_rate", -0.1), bad("learning_rate", np.inf), bad("regularization", -1.0),
    bad("regularization", np.nan), bad("negative_sampling", "hard"),
    bad("negative_sampling", None), bad("backend", "gpu"), bad("dtype", np.int32),
    bad("num_threads", -1), bad("random_state", -1), bad("num_threads", 2**40),
    bad("learning_rate", 10.0, regularization=0.1, match="learning_rate \\* regularization"),
    bad("factors", 2.5, TypeError), bad("iterations", "3", TypeError),
    bad("learning_rate", "0.1", TypeError), bad("regularization", None, TypeError),
    bad("verify_negative_samples", 1, TypeError), bad("random_state", 1.5, TypeError),
    bad("dtype", "not-a-dtype", TypeError),
]
EXPLICIT_BAD = [
    bad("factors", 0), bad("factors", 2.5, TypeError), bad("solver", "adam"),
    bad("learning_rate", 0.0), bad("learning_rate", -1), bad("learning_rate", "fast", TypeError),
    bad("regularization", -0.1), bad("regularization", float("nan")), bad("iterations", 0),
    bad("iterations", True, TypeError), bad("biased", 1, TypeError), bad("init_std", 0.0),
    bad("init_std", float("inf")), bad("dtype", np.int32), bad("dtype", "float16"),
    bad("random_state", -1), bad("random_state", "seed", TypeError), bad("num_threads", -1),
    bad("backend", "gpu"),
]
NMF_BAD = [
    bad("n_components", 0), bad("n_components", 2.5, TypeError), bad("solver", "als"),
    bad("beta_loss", "itakura-saito"), bad("beta_loss", "kullback-leibler", match="solver 'cd'"),
    bad("init", "svd"), bad("alpha_W", -1.0), bad("alpha_H", "other"), bad("alpha_H", -0.5),
    bad("l1_ratio", 1.5), bad("l1_ratio", -0.1), bad("max_iter", 0), bad("tol", -1e-4),
    bad("tol", np.nan), bad("missing", "nan"), bad("dtype", np.int32), bad("num_threads", -1),
    bad("backend", "gpu"), bad("random_state", "seed", TypeError),
]
SVD_BAD = [
    bad("factors", 0), bad("factors", 2.5, TypeError), bad("factors", 41),
    bad("user_exponent", -0.5), bad("item_exponent", np.nan), bad("item_exponent", "1", TypeError),
    bad("popularity_exponent", np.inf), bad("power_iterations", -1), bad("oversampling", -1),
    bad("dtype", np.int32), bad("num_threads", -1), bad("backend", "gpu"),
    bad("random_state", "seed", TypeError),
]


# ------------------------------------------------------------------------------------ the models
def explicit_offset(model, users):
    """ExplicitMF scores are predicted ratings: μ + b_u on top of the ranking dot products."""
    if not model.biased:
        return np.zeros(len(users))
    return model.global_mean + model.user_bias[users]


@dataclass(frozen=True)
class Spec:
    cls: type
    params: dict  # a fast fit, deterministic (one thread), float64 (no near-ties by rounding)
    data: Callable  # () -> a training matrix (N_USERS x N_ITEMS) of the kind it fits
    bad_params: list  # rows made by bad(): invalid constructor arguments
    data_name: str = "user_items"  # the fit argument, as error messages name it
    sums_duplicates: bool = True  # False: two stored entries for one cell raise ValueError
    folds_in_items: bool = True  # False: partial_fit_items / recalculate_item not supported
    score_offset: Callable = field(default=lambda model, users: np.zeros(len(users)))
    variant: str = ""  # tells apart two specs of one class in the test ids

    def __str__(self):
        return self.cls.__name__

    def id(self):
        return f"{self}-{self.variant}" if self.variant else str(self)

    def make(self, **params):
        return self.cls(**{**self.params, **params})

    def fit(self, matrix, **params):
        return self.make(**params).fit(matrix, show_progress=False)


ONE_THREAD = dict(random_state=0, num_threads=1, dtype=np.float64)
MODELS = [
    Spec(mfkit.ALS, dict(factors=4, iterations=3, calculate_training_loss=True, **ONE_THREAD),
         implicit_data, ALS_BAD),
    Spec(mfkit.ALS, dict(factors=4, iterations=3, calculate_training_loss=True, solver="block",
                         block_size=3, regularization_exponent=0.5,
                         regularization_scheme="frequency", **ONE_THREAD),
         implicit_data, [], variant="block"),  # iALS++, frequency-scaled λ (Rendle et al. 2022)
    Spec(mfkit.BPR, dict(factors=4, iterations=20, **ONE_THREAD), implicit_data, BPR_BAD,
         folds_in_items=False),
    Spec(mfkit.ExplicitMF, dict(factors=4, iterations=10, **ONE_THREAD), ratings_data,
         EXPLICIT_BAD, data_name="ratings", sums_duplicates=False, score_offset=explicit_offset),
    Spec(mfkit.NMF, dict(n_components=4, max_iter=30, tol=0, **ONE_THREAD), counts_data,
         NMF_BAD),
    Spec(mfkit.SVD, dict(factors=4, power_iterations=3, **ONE_THREAD), counts_data, SVD_BAD,
         folds_in_items=False),
]
BAD_PARAMS = [pytest.param(spec, *row, id=f"{spec}-" + ",".join(f"{name}={value!r}"
                                                                for name, value in row[0].items()))
              for spec in MODELS for row in spec.bad_params]


@pytest.fixture(scope="module", params=MODELS, ids=Spec.id)
def spec(request):
    return request.param


@pytest.fixture(scope="module")
def data(spec):
    return spec.data()


@pytest.fixture(scope="module")
def trained(spec, data):
    """One fitted model per spec, shared: tests that change a model change a copy()."""
    return spec.fit(data)


@pytest.fixture(scope="module", params=["cpp", "reference"])
def served(request, trained):
    """The fitted model serving through either backend (ranking, fold-in)."""
    return copy(trained).set_params(backend=request.param)


def copy(model):
    return pickle.loads(pickle.dumps(model))


def rows_of(model, matrix):
    """``matrix`` as the model validates interaction rows (what recommend filters)."""
    return model._interaction_rows(matrix, matrix.shape[0], matrix.shape[1], "rows", "row")


# ------------------------------------------------------------------------------- brute force
def dot_scores(model, user_vectors):
    queries = model._ranking_users(np.atleast_2d(user_vectors)).astype(np.float64)
    return queries @ model._ranking_items().astype(np.float64).T


def best(scores, N, excluded=(), subset=None):
    """Ids of the ``N`` best candidates, best first, ties by lower id, and their scores."""
    candidates = np.arange(len(scores)) if subset is None else np.asarray(subset)
    candidates = candidates[~np.isin(candidates, np.asarray(excluded, dtype=np.int64))]
    order = candidates[np.lexsort((candidates, -scores[candidates]))][:N]
    return order, scores[order]


def expected_recommendations(model, spec, user, liked=(), excluded=(), subset=None, N=10):
    scores = dot_scores(model, model.user_factors[user])[0]
    ids, dots = best(scores, N, np.r_[np.asarray(liked, dtype=np.int64), excluded], subset)
    return ids, dots + spec.score_offset(model, [user])[0]


def cosine(factors):
    norms = np.linalg.norm(factors, axis=1)
    unit = factors / np.where(norms > 0, norms, 1)[:, None]
    return unit @ unit.T


# ----------------------------------------------------------------------------------- recommend
def test_recommend_matches_brute_force(served, spec, data):
    for user in (0, 3, EMPTY_USER, 29, 59):
        ids, scores = served.recommend(user, data[user], N=10)
        want_ids, want_scores = expected_recommendations(served, spec, user, data[user].indices)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)
        assert ids.ndim == 1 and ids.dtype == np.int32 and scores.dtype == np.float64


@pytest.mark.parametrize("users", [[3, 0, 41, 3, 59], np.arange(2, 60, 4)],
                         ids=["small-batch", "fused-batch"])
def test_batch_rows_equal_scalar_answers(served, data, users):
    users = np.asarray(users)
    ids, scores = served.recommend(users, data[users], N=7)
    assert ids.shape == scores.shape == (len(users), 7)
    for row, user in enumerate(users):
        one_ids, one_scores = served.recommend(int(user), data[user], N=7)
        np.testing.assert_array_equal(ids[row], one_ids)
        np.testing.assert_allclose(scores[row], one_scores, rtol=1e-9, atol=1e-12)


def test_liked_and_filtered_items_never_appear(served, spec, data):
    excluded = np.array([0, 1, 2, 17, 33])
    users = np.arange(N_USERS)
    ids, scores = served.recommend(users, data, N=N_ITEMS, filter_items=excluded)
    for user in users:
        row = ids[user][ids[user] >= 0]
        liked = set(rows_of(served, data[user]).indices)
        assert not set(row) & liked and not set(row) & set(excluded)
        # every other item is there, exactly once, in score order, then the padding
        assert len(row) == len(set(row)) == N_ITEMS - len(liked | set(excluded))
        want_ids, want_scores = expected_recommendations(served, spec, user, list(liked),
                                                         excluded, N=N_ITEMS)
        np.testing.assert_array_equal(row, want_ids)
        np.testing.assert_allclose(scores[user][:len(row)], want_scores, rtol=1e-9, atol=1e-12)
        assert np.all(ids[user][len(row):] == -1)
        assert np.all(np.isneginf(scores[user][len(row):]))
        if user % 10 == 0:  # one user at a time: the other ranking path
            one_ids, _ = served.recommend(int(user), data[user], N=N_ITEMS, filter_items=excluded)
            np.testing.assert_array_equal(one_ids, row)


def test_items_subset(served, spec, data):
    subset = np.array([39, 3, 9, 27, 11, 5])
    for user in (2, 30):
        ids, scores = served.recommend(user, data[user], N=4, items=subset)
        want_ids, want_scores = expected_recommendations(served, spec, user, data[user].indices,
                                                         subset=subset, N=4)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)
        assert set(ids) <= set(subset)


def test_unfiltered_without_user_items(served, spec):
    ids, scores = served.recommend(4, None, N=5, filter_already_liked_items=False)
    want_ids, want_scores = expected_recommendations(served, spec, 4, N=5)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)


def test_fewer_candidates_than_n(served, data):
    liked = data[1].indices
    subset = np.array(sorted(set(range(10)) - set(liked))[:3] + list(liked[:2]))
    ids, scores = served.recommend(1, data[1], N=10, items=subset)
    assert len(ids) == len(scores) == 3  # 1-D: shorter, no fake ids
    batch_ids, batch_scores = served.recommend(np.array([1, 1]), data[[1, 1]], N=10,
                                               items=subset)
    assert batch_ids.shape == (2, 5)  # columns: the candidate count; per-user shortfall padded
    np.testing.assert_array_equal(batch_ids[:, :3], np.vstack([ids, ids]))
    np.testing.assert_allclose(batch_scores[:, :3], np.vstack([scores, scores]), rtol=1e-12)
    assert np.all(batch_ids[:, 3:] == -1) and np.all(np.isneginf(batch_scores[:, 3:]))


def test_n_larger_than_catalogue(served, data):
    ids, scores = served.recommend(0, data[0], N=10_000, filter_already_liked_items=False)
    assert sorted(ids) == list(range(N_ITEMS))
    assert np.all(np.diff(scores) <= 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_ties_are_broken_by_lower_id(served, spec, data, dtype):
    """Integer-valued factors (and biases) make every score exact: many ties, all ordered by
    id, in both ranking paths (scalar / small batch, and the fused batch kernel)."""
    model = copy(served).set_params(dtype=dtype)
    rng = np.random.default_rng(0)
    for name in model._fitted_arrays:
        value = getattr(model, name, None)
        if name.startswith(("user_", "item_")) and np.issubdtype(value.dtype, np.floating):
            setattr(model, name, rng.integers(-2, 3, size=value.shape).astype(dtype))
    users = np.arange(0, 60, 3)
    ids, scores = model.recommend(users, data[users], N=15)
    for row, user in enumerate(users):
        want_ids, want_scores = expected_recommendations(model, spec, user, data[user].indices,
                                                         N=15)
        np.testing.assert_array_equal(ids[row], want_ids)
        np.testing.assert_array_equal(model.recommend(user, data[user], N=15)[0], want_ids)
        np.testing.assert_allclose(scores[row], want_scores, rtol=1e-6)


def test_recalculate_user_ranks_with_the_folded_in_factors(served, spec, data):
    users = np.array([0, 13, EMPTY_USER, 44])
    rows = data[users]
    folded = served._fold_in_users(rows_of(served, rows))
    assert folded.shape == (len(users), served.user_factors.shape[1])
    assert folded.dtype == served.user_factors.dtype and np.all(np.isfinite(folded))
    ids, scores = served.recommend(users, rows, N=6, recalculate_user=True)
    new_ids, new_scores = served.recommend(users + 1000, rows, N=6, recalculate_user=True)
    np.testing.assert_array_equal(new_ids, ids)  # the user id plays no part: new users work
    np.testing.assert_array_equal(new_scores, scores)
    for row, user in enumerate(users):
        want_ids, want_dots = best(dot_scores(served, folded[row])[0], 6, rows[row].indices)
        np.testing.assert_array_equal(ids[row], want_ids)
        offset = scores[row] - want_dots  # 0, or the user's own constant (e.g. μ + b_u)
        np.testing.assert_allclose(offset, offset[0], atol=1e-9)
        one_ids, one_scores = served.recommend(int(user), rows[row], N=6, recalculate_user=True)
        np.testing.assert_array_equal(one_ids, ids[row])
        np.testing.assert_allclose(one_scores, scores[row], rtol=1e-9, atol=1e-12)


def test_recalculated_user_equals_stored_after_partial_fit(served, data):
    model = copy(served)
    users = np.array([0, 13, 44])
    model.partial_fit_users(users, data[users])
    stored = model.recommend(users, data[users], N=10)
    recalculated = model.recommend(users, data[users], N=10, recalculate_user=True)
    np.testing.assert_array_equal(stored[0], recalculated[0])
    np.testing.assert_allclose(stored[1], recalculated[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(userid=N_USERS), "userid"),
    (dict(userid=-1), "userid"),
    (dict(userid=1.5), "userid"),
    (dict(N=0), "N"),
    (dict(filter_items=[N_ITEMS]), "filter_items"),
    (dict(items=[-2]), "items"),
    (dict(items=[1, 1]), "items"),
    (dict(items=[1], filter_items=[2]), "filter_items"),
    (dict(user_items="all rows"), "user_items"),
    (dict(user_items=None), "user_items"),
    (dict(recalculate_user="yes"), "recalculate_user"),
    (dict(filter_already_liked_items=1), "filter_already_liked_items"),
])
def test_bad_recommend_arguments(trained, data, kwargs, match):
    call = dict(userid=0, user_items=data[0], N=5)
    call.update(kwargs)
    if isinstance(call["user_items"], str):
        call["user_items"] = data  # the whole matrix for one user: a shape error
    with pytest.raises((ValueError, TypeError), match=match):
        trained.recommend(**call)


def test_recommend_does_not_modify_user_items(trained, data):
    rows = data[[4, 5]].copy()
    rows.data[0] = 7.0
    before = (rows.data.copy(), rows.indices.copy(), rows.indptr.copy())
    trained.recommend(np.array([4, 5]), rows, N=5, recalculate_user=True)
    for a, b in zip(before, (rows.data, rows.indices, rows.indptr)):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------- similar_*
@pytest.mark.parametrize("kind", ["item", "user"])
def test_similar_matches_brute_force_cosine(trained, kind):
    factors = getattr(trained, f"{kind}_factors")
    similar = getattr(trained, f"similar_{kind}s")
    sims = cosine(factors.astype(np.float64))
    # Queries pointing in a direction of their own (NMF's sparse factors may be parallel, a tie
    # at cosine 1 that goes to the lower id): they must come first in their own list.
    others = sims - 2 * np.eye(len(sims))
    unique = np.flatnonzero(factors.any(axis=1) & (others.max(axis=1) < 1 - 1e-6))
    queries = unique[[0, len(unique) // 2, -1]]
    for query in queries:
        ids, scores = similar(query, N=6)
        assert ids[0] == query and scores[0] == pytest.approx(1.0, abs=1e-9)
        want_ids, want_scores = best(sims[query], 6)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)
    batch_ids, _ = similar(np.array(queries), N=6)
    np.testing.assert_array_equal(batch_ids[:, 0], queries)


@pytest.mark.parametrize("kind", ["item", "user"])
def test_similar_batch_and_filters(trained, kind):
    similar = getattr(trained, f"similar_{kind}s")
    filtered, allowed = f"filter_{kind}s", f"{kind}s"
    queries = np.array([1, 2, 3])
    ids, scores = similar(queries, N=5, **{filtered: [1, 2]})
    assert ids.shape == scores.shape == (3, 5)
    assert not np.isin(ids, [1, 2]).any()
    for row, query in enumerate(queries):
        one_ids, one_scores = similar(int(query), N=5, **{filtered: [1, 2]})
        np.testing.assert_array_equal(ids[row], one_ids)
        np.testing.assert_allclose(scores[row], one_scores, rtol=1e-9, atol=1e-12)
    subset = np.array([4, 9, 16])
    ids, scores = similar(9, N=10, **{allowed: subset})
    assert ids[0] == 9 and sorted(ids) == sorted(subset) and np.all(np.diff(scores) <= 1e-12)
    with pytest.raises(ValueError, match=filtered):
        similar(0, **{filtered: [1], allowed: [2]})


@pytest.mark.parametrize("kind", ["item", "user"])
def test_similar_recalculated_for_a_new_id(trained, spec, data, kind):
    similar = getattr(trained, f"similar_{kind}s")
    matrix = data if kind == "user" else data.T.tocsr()
    rows_name = "user_items" if kind == "user" else "item_users"
    call = {f"recalculate_{kind}": True, rows_name: matrix[[3]]}
    if kind == "item" and not spec.folds_in_items:
        with pytest.raises(NotImplementedError, match=str(spec)):
            similar(999, N=3, **call)
        return
    ids, scores = similar(999, N=3, **call)  # row 3 of the data, as a never-seen id
    fold_in = getattr(trained, f"_fold_in_{kind}s")
    query = fold_in(rows_of(trained, matrix[[3]]))[0].astype(np.float64)
    factors = getattr(trained, f"{kind}_factors").astype(np.float64)
    sims = cosine(np.vstack([query, factors]))[0, 1:]
    want_ids, want_scores = best(sims, 3)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match=rows_name):
        similar(999, **{**call, rows_name: matrix})


# ---------------------------------------------------------------------------- serving by raw ids
USER_IDS = np.arange(N_USERS) * 10 + 5  # raw user ids: integers that are not the row numbers
ITEM_IDS = np.array([f"item{j:02d}" for j in range(N_ITEMS)])


@pytest.fixture(scope="module")
def raw_served(served):
    """The served model with raw ids, as if fitted on an Interactions with these maps."""
    model = copy(served)
    model.user_ids, model.item_ids = USER_IDS, ITEM_IDS
    return model


def raw_history(matrix, row) -> dict:
    """Row ``row`` of ``matrix`` as {raw item id: value}."""
    cells = matrix[row]
    return dict(zip(ITEM_IDS[cells.indices].tolist(), cells.data.tolist()))


def assert_same_raw(raw_answer, answer, ids=ITEM_IDS):
    np.testing.assert_array_equal(raw_answer[0], ids[answer[0]])
    np.testing.assert_array_equal(raw_answer[1], answer[1])  # the same path: bitwise equal


def test_recommend_raw_equals_recommend_on_mapped_rows(raw_served, data):
    model = raw_served
    interactions = mfkit.datasets.Interactions(sp.csr_matrix(data), USER_IDS, ITEM_IDS)
    for user in (0, 3, EMPTY_USER, 29, 59):
        expected = model.recommend(user, data[user], N=7)
        raw_user = USER_IDS[user]
        assert_same_raw(model.recommend_raw(raw_user, raw_history(data, user), N=7), expected)
        assert_same_raw(model.recommend_raw(int(raw_user), history=interactions, N=7), expected)
    ones = data[3].copy()
    ones.data[:] = 1
    items = list(raw_history(data, 3))
    assert_same_raw(model.recommend_raw(35, history=items, N=7), model.recommend(3, ones, N=7))
    # no history: nothing to filter (the model keeps no interactions)
    assert_same_raw(model.recommend_raw(35, N=5),
                    model.recommend(3, None, N=5, filter_already_liked_items=False))
    assert_same_raw(model.recommend_raw(35, history=items, N=5, filter_items=ITEM_IDS[[4, 9]]),
                    model.recommend(3, ones, N=5, filter_items=[4, 9]))
    assert_same_raw(model.recommend_raw(35, N=5, items=ITEM_IDS[[20, 2, 11]]),
                    model.recommend(3, None, N=5, filter_already_liked_items=False,
                                    items=[20, 2, 11]))


def test_recommend_raw_folds_in_new_users(raw_served, data):
    model = raw_served
    expected = model.recommend(0, data[3], N=6, recalculate_user=True)
    assert_same_raw(model.recommend_raw(123456, raw_history(data, 3), N=6), expected)
    assert_same_raw(model.recommend_raw(35, raw_history(data, 3), N=6, recalculate_user=True),
                    model.recommend(3, data[3], N=6, recalculate_user=True))
    with pytest.raises(ValueError, match="history"):
        model.recommend_raw(35, recalculate_user=True)


def test_recommend_raw_unknown_and_wrong_ids(raw_served, data):
    model = raw_served
    history = raw_history(data, 3)
    with pytest.raises(KeyError, match="123456"):
        model.recommend_raw(123456)  # unknown user, no history to fold it in
    with pytest.raises(KeyError, match="123456"):
        model.recommend_raw(123456, history=[])
    with pytest.raises(TypeError, match="integers"):
        model.recommend_raw("35")  # a string where the model has integer user ids
    with pytest.raises(TypeError, match="one raw user id"):
        model.recommend_raw([35, 45])
    # items the model does not know: skipped in a history and in filter_items ...
    with_new = {**history, "brand-new": 1.0}
    assert_same_raw(model.recommend_raw(35, with_new, N=5), model.recommend(3, data[3], N=5))
    assert_same_raw(model.recommend_raw(35, history, N=5, filter_items=["item04", "gone"]),
                    model.recommend(3, data[3], N=5, filter_items=[4]))
    # ... but a history of which nothing is known, or ids of the wrong kind, are errors
    with pytest.raises(ValueError, match="none of the 2 items"):
        model.recommend_raw(35, history=["x", "y"])
    with pytest.raises(TypeError, match="strings"):
        model.recommend_raw(35, history=[3, 4])  # row numbers instead of raw ids
    with pytest.raises(TypeError, match="filter_items"):
        model.recommend_raw(35, filter_items=[4])
    with pytest.raises(KeyError, match="gone"):
        model.recommend_raw(35, items=["item04", "gone"])  # cannot rank what it does not know
    with pytest.raises(ValueError, match="NaN"):
        model.recommend_raw(35, history={"item04": np.nan})


def test_raw_path_needs_raw_ids(trained):
    assert getattr(trained, "user_ids", None) is None
    for call in (lambda: trained.recommend_raw(0), lambda: trained.similar_items_raw(0),
                 lambda: trained.similar_users_raw(0)):
        with pytest.raises(ValueError, match="fit it on an mfkit.datasets.Interactions"):
            call()


@pytest.mark.parametrize("kind", ["item", "user"])
def test_similar_raw_equals_similar(raw_served, kind):
    model, ids = raw_served, (ITEM_IDS if kind == "item" else USER_IDS)
    similar = getattr(model, f"similar_{kind}s")
    similar_raw = getattr(model, f"similar_{kind}s_raw")
    for query in (1, 9, 30):
        assert_same_raw(similar_raw(ids[query], N=6), similar(query, N=6), ids)
    assert_same_raw(similar_raw(ids[9], N=4, **{f"filter_{kind}s": ids[[1, 2]]}),
                    similar(9, N=4, **{f"filter_{kind}s": [1, 2]}), ids)
    assert_same_raw(similar_raw(ids[9], N=4, **{f"{kind}s": ids[[4, 9, 16]]}),
                    similar(9, N=4, **{f"{kind}s": [4, 9, 16]}), ids)
    unknown = "nope" if kind == "item" else 123456
    with pytest.raises(KeyError, match=str(unknown)):
        similar_raw(unknown)


def test_model_fitted_on_a_split_serves_raw_ids(spec, data, tmp_path):
    interactions = mfkit.datasets.Interactions(sp.csr_matrix(data), USER_IDS, ITEM_IDS)
    train, _ = mfkit.evaluation.leave_k_out_split(interactions, K=2, random_state=0)
    model = spec.fit(train)
    assert model.user_ids.tolist() == USER_IDS.tolist()
    assert model.item_ids.tolist() == ITEM_IDS.tolist()
    model.save(tmp_path / "split.npz")
    loaded = mfkit.load(tmp_path / "split.npz")
    expected = model.recommend(3, train.matrix[3], N=5)
    for served in (model, loaded):
        assert_same_raw(served.recommend_raw(35, history=train, N=5), expected)


# ------------------------------------------------------------------------------- partial fits
def per_row_arrays(model, kind):
    """The fitted arrays with one row per user (or item): what a partial fit may change."""
    return {name: getattr(model, name) for name in model._fitted_arrays
            if name.startswith(f"{kind}_") and name != f"{kind}_popularity"}


def test_partial_fit_users_grows_and_leaves_others(trained, data):
    model = copy(trained)
    before = per_row_arrays(model, "user")
    items_before = per_row_arrays(model, "item")
    rows = data[[2, 3, 4]]
    new_ids = np.array([N_USERS + 1, 5, N_USERS])  # new ids in any order, without a gap
    assert model.partial_fit_users(new_ids, rows) is model
    untouched = [u for u in range(N_USERS) if u != 5]
    for name, old in before.items():
        new = getattr(model, name)
        assert len(new) == N_USERS + 2 and new.dtype == old.dtype
        np.testing.assert_array_equal(new[untouched], old[untouched])
    solved = model._fold_in_users(rows_of(model, rows))
    np.testing.assert_array_equal(model.user_factors[new_ids], solved)
    for name, old in items_before.items():
        assert getattr(model, name) is old
    ids, _ = model.recommend(N_USERS + 1, data[2], N=3)  # the grown user is servable
    assert len(ids) == 3 and not set(ids) & set(data[2].indices)
    with pytest.raises(ValueError, match="userids"):
        model.partial_fit_users([0, 0], data[[1, 2]])
    with pytest.raises(ValueError, match="user_items"):
        model.partial_fit_users([0], data[[1, 2]])


@pytest.mark.parametrize("kind", ["user", "item"])
@pytest.mark.parametrize("new_ids", [[1], [0, 2], [10**9]], ids=["gap", "gap-of-two", "huge"])
def test_partial_fit_rejects_new_ids_with_a_gap(trained, spec, data, kind, new_ids):
    if kind == "item" and not spec.folds_in_items:
        return
    model = copy(trained)
    size = len(getattr(model, f"{kind}_factors"))
    ids = [size + offset for offset in new_ids]
    matrix = data if kind == "user" else data.T.tocsr()
    before = getattr(model, f"{kind}_factors")
    with pytest.raises(ValueError, match=f"{kind}ids.* has {size} {kind}s.* must be {size}"):
        getattr(model, f"partial_fit_{kind}s")(ids, matrix[list(range(len(ids)))])
    assert getattr(model, f"{kind}_factors") is before


def test_partial_fit_items(trained, spec, data):
    model = copy(trained)
    item_users = data.T.tocsr()
    if not spec.folds_in_items:
        with pytest.raises(NotImplementedError, match=str(spec)):
            model.partial_fit_items([0], item_users[[1]])
        return
    before = per_row_arrays(model, "item")
    users_before = per_row_arrays(model, "user")
    model.partial_fit_items([0, N_ITEMS], item_users[[1, 2]])
    for name, old in before.items():
        new = getattr(model, name)
        assert len(new) == N_ITEMS + 1
        np.testing.assert_array_equal(new[1:N_ITEMS], old[1:])
    solved = model._fold_in_items(rows_of(model, item_users[[1, 2]]))
    np.testing.assert_array_equal(model.item_factors[[0, N_ITEMS]], solved)
    for name, old in users_before.items():
        assert getattr(model, name) is old
    ids, _ = model.recommend(0, None, N=N_ITEMS + 1, filter_already_liked_items=False)
    assert sorted(ids) == list(range(N_ITEMS + 1))
    with pytest.raises(ValueError, match="itemids"):
        model.partial_fit_items([0, 0], item_users[[1, 2]])


# ------------------------------------------------------------------------- non-finite results
def factors_of(state):
    """The user factors of a fit state (``W`` for NMF, the subspace basis for SVD)."""
    if hasattr(state, "basis"):
        return state.basis
    return state.user_factors if hasattr(state, "user_factors") else state.W


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_factors_stop_the_fit_naming_the_iteration(spec, data, bad_value):
    """Whatever makes an iteration produce a non-finite factor, the fit raises after that
    iteration and leaves the model unfitted (simulated by spoiling one entry)."""
    model = spec.make()
    iterate = model._iterate

    def spoiled(state, iteration):
        iterate(state, iteration)
        if iteration == 1:
            factors_of(state)[3, 0] = bad_value

    model._iterate = spoiled
    with pytest.raises(mfkit.NumericalError, match="not finite after iteration 1;"):
        model.fit(data, show_progress=False)
    assert getattr(model, "user_factors", None) is None


def spoil(solve):
    """``solve`` (a fold-in hook) returning a NaN in its first solved row."""
    def spoiled(*args):
        solved = solve(*args)
        first = solved["factors"] if isinstance(solved, dict) else solved
        first[0, 0] = np.nan
        return solved
    return spoiled


def test_non_finite_fold_in_raises(trained, spec, data):
    model = copy(trained)
    model._fold_in_users = spoil(model._fold_in_users)
    with pytest.raises(mfkit.NumericalError, match="user factors are not finite"):
        model.recommend(0, data[0], recalculate_user=True)
    with pytest.raises(mfkit.NumericalError, match="user factors are not finite"):
        model.recommend([0, 1], data[[0, 1]], recalculate_user=True)
    with pytest.raises(mfkit.NumericalError, match="user factors are not finite"):
        model.similar_users(0, recalculate_user=True, user_items=data[[0]])
    model._partial_solve = spoil(model._partial_solve)
    before = model.user_factors
    with pytest.raises(mfkit.NumericalError, match="user_factors are not finite .*userids"):
        model.partial_fit_users([0, N_USERS], data[[0, 1]])
    assert model.user_factors is before


# -------------------------------------------------------------------------------- persistence
def assert_same_fitted_model(loaded, original):
    assert type(loaded) is type(original)
    assert loaded.get_params() == original.get_params()
    for name in original._fitted_arrays:
        a, b = getattr(loaded, name), getattr(original, name)
        if isinstance(b, list):
            assert type(a) is list and a == b, name
        else:
            assert a.dtype == b.dtype and a.shape == b.shape, name
            assert a.tobytes() == b.tobytes(), name  # bitwise, not approximately


def assert_same_recommendations(loaded, original, data):
    users = np.arange(10)
    for recalculate in (False, True):
        for userid, rows in ((users, data[users]), (3, data[3])):
            a = loaded.recommend(userid, rows, N=5, recalculate_user=recalculate)
            b = original.recommend(userid, rows, N=5, recalculate_user=recalculate)
            np.testing.assert_array_equal(a[0], b[0])
            assert a[1].dtype == b[1].dtype and a[1].tobytes() == b[1].tobytes()
    for a, b in zip(loaded.similar_items(np.arange(5)), original.similar_items(np.arange(5))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_save_load_round_trip(spec, data, tmp_path, dtype, backend):
    original = spec.fit(data, dtype=dtype).set_params(backend=backend)  # serving backend
    path = tmp_path / "model.npz"
    assert original.save(path) is None
    loaded = mfkit.load(path)
    assert_same_fitted_model(loaded, original)
    assert loaded.user_factors.dtype == np.dtype(dtype)
    assert_same_recommendations(loaded, original, data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_pickle_round_trip(spec, data, dtype):
    model = spec.fit(data, dtype=dtype)
    model.recommend(np.arange(10), data[:10])  # fills the caches, which pickle leaves out
    copied = pickle.loads(pickle.dumps(model))
    assert "_cache" not in copied.__dict__
    assert_same_fitted_model(copied, model)
    assert_same_recommendations(copied, model, data)


def test_interactions_keep_raw_ids(spec, tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\nalice,x,5\nbob,y,4\nalice,z,3\ncarol,x,1\nbob,z,2\n")
    interactions = mfkit.datasets.from_csv(path, user_col="user", item_col="item",
                                           value_col="rating")
    model = spec.make(**({"factors": 2} if "factors" in spec.params else {"n_components": 2}))
    model.fit(interactions, show_progress=False)
    assert list(model.user_ids) == ["alice", "bob", "carol"]
    assert list(model.item_ids) == ["x", "y", "z"]
    model.save(tmp_path / "ids.npz")
    loaded = mfkit.load(tmp_path / "ids.npz")
    assert list(loaded.user_ids) == ["alice", "bob", "carol"]
    assert list(loaded.item_ids) == ["x", "y", "z"]
    assert_same_fitted_model(loaded, model)


def test_unfitted_model_raises_not_fitted(spec, data, tmp_path):
    model = spec.make()
    calls = [
        lambda: model.recommend(0, data[0]),
        lambda: model.recommend(0, None, filter_already_liked_items=False),
        lambda: model.similar_items(0),
        lambda: model.similar_users(0),
        lambda: model.recommend_raw(0),
        lambda: model.similar_items_raw(0),
        lambda: model.similar_users_raw(0),
        lambda: model.partial_fit_users([0], data[[0]]),
        lambda: model.partial_fit_items([0], data.T.tocsr()[[0]]),
        lambda: model.save(tmp_path / "model.npz"),
    ]
    for call in calls:
        with pytest.raises(mfkit.NotFittedError, match="not fitted"):
            call()
    assert not (tmp_path / "model.npz").exists()
    assert issubclass(mfkit.NotFittedError, ValueError)


# ---------------------------------------------------------------------- scikit-learn protocol
def test_get_params_set_params(spec):
    model = spec.make()
    names = [p for p in inspect.signature(spec.cls.__init__).parameters if p != "self"]
    params = model.get_params()
    assert sorted(params) == sorted(names)
    assert all(params[name] == value for name, value in spec.params.items())
    other = spec.cls(**params)
    assert other.get_params() == params
    assert model.set_params(random_state=7) is model and model.random_state == 7
    assert "random_state=7" in repr(model) and repr(model).startswith(f"{spec}(")
    with pytest.raises(ValueError, match="nope"):
        model.set_params(nope=1)
    assert not hasattr(model, "nope")


def test_sklearn_clone(trained, spec, data):
    base = pytest.importorskip("sklearn.base")
    clone = base.clone(trained)
    assert type(clone) is spec.cls and clone.get_params() == trained.get_params()
    assert getattr(clone, "user_factors", None) is None
    clone.fit(data, show_progress=False)  # same parameters, same seed: the same model
    assert_same_fitted_model(clone, trained)


def test_repr_shows_only_non_default_arguments(spec):
    required = {name: value for name, value in spec.params.items()
                if inspect.signature(spec.cls.__init__).parameters[name].default
                is inspect.Parameter.empty}
    for given in (required, {**required, "random_state": 7, "dtype": np.float64}):
        shown = ", ".join(f"{name}={value!r}" for name, value in sorted(given.items()))
        assert repr(spec.cls(**given)) == f"{spec}({shown})"


def test_public_methods_are_annotated(spec):
    """Every parameter (but ``self``) and the return value of every public method."""
    missing = []
    for name, method in inspect.getmembers(spec.cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        signature = inspect.signature(method)
        missing += [f"{name}({p.name})" for p in list(signature.parameters.values())[1:]
                    if p.annotation is inspect.Parameter.empty]
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{name} -> ?")
    assert not missing, f"{spec}: unannotated: {', '.join(missing)}"


def test_sklearn_fitted_status_and_tags(trained, spec):
    validation = pytest.importorskip("sklearn.utils.validation")
    utils = pytest.importorskip("sklearn.utils")
    if not hasattr(utils, "get_tags"):
        pytest.skip("scikit-learn < 1.6 has no __sklearn_tags__ protocol")
    with pytest.raises(validation.NotFittedError):
        validation.check_is_fitted(spec.make())
    validation.check_is_fitted(trained)
    tags = utils.get_tags(spec.make())
    assert tags.estimator_type is None and not tags.target_tags.required
    assert tags.input_tags.sparse and tags.requires_fit
    assert (tags.transformer_tags is not None) == hasattr(spec.cls, "transform")


def test_refit_replaces_the_fitted_state(spec, data):
    model = spec.fit(data)
    model.fit(data[:10], show_progress=False)
    assert model.user_factors.shape[0] == 10
    assert model.item_factors.shape[0] == N_ITEMS


@pytest.mark.parametrize("spec, params, error, match", BAD_PARAMS)
def test_bad_parameters_raise_at_fit_naming_them(spec, params, error, match):
    model = spec.make(**params)  # the constructor only stores them
    with pytest.raises(error, match=match):
        model.fit(spec.data(), show_progress=False)
    assert getattr(model, "user_factors", None) is None  # before any work


def test_numpy_scalar_parameters(spec, data):
    def numpy_scalar(value):
        if isinstance(value, (bool, np.dtype, type)) or not isinstance(value, (int, float)):
            return value
        return np.int64(value) if isinstance(value, int) else np.float32(value)

    params = {name: numpy_scalar(value) for name, value in spec.params.items()}
    model = spec.make(**{**params, "dtype": "float64"}).fit(data, show_progress=False)
    assert_same_fitted_model(model.set_params(**spec.params), spec.fit(data))


@pytest.mark.parametrize("callback", [3, "f", [print]])
def test_non_callable_callback_rejected(spec, data, callback):
    model = spec.make()
    with pytest.raises(TypeError, match="callback"):
        model.fit(data, callback=callback, show_progress=False)
    assert getattr(model, "user_factors", None) is None


def test_non_bool_show_progress_rejected(spec, data):
    with pytest.raises(TypeError, match="show_progress"):
        spec.make().fit(data, show_progress="yes")


# ------------------------------------------------------------------------------ training data
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("kind", ["csr", "dense", "coo"])
def test_non_finite_values_rejected(spec, bad_value, kind):
    dense = np.array([[1.0, 0.0, 2.0], [0.0, bad_value, 0.0]])
    matrix = {"csr": sp.csr_matrix(dense), "dense": dense, "coo": sp.coo_matrix(dense)}[kind]
    with pytest.warns(UserWarning) if kind == "coo" else contextlib.nullcontext():
        with pytest.raises(ValueError, match=f"{spec.data_name}.*NaN or infinite"):
            spec.fit(matrix)


@pytest.mark.parametrize("matrix", [np.ones(5), np.ones((2, 3, 4)), np.array(1.0)],
                         ids=["1-D", "3-D", "0-D"])
def test_wrong_number_of_dimensions_rejected(spec, matrix):
    with pytest.raises(ValueError, match=f"{spec.data_name}.*2-D"):
        spec.fit(matrix)


def test_one_dimensional_sparse_array_rejected(spec):
    try:
        vector = sp.csr_array(np.array([1.0, 0.0, 2.0]))
    except (ValueError, TypeError):
        pytest.skip("this scipy has no 1-D sparse arrays")
    if vector.ndim != 1:
        pytest.skip("this scipy has no 1-D sparse arrays")
    with pytest.raises(ValueError, match=spec.data_name):
        spec.fit(vector)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_empty_shape_rejected(spec, shape, kind):
    matrix = np.zeros(shape) if kind == "dense" else sp.csr_matrix(shape)
    with pytest.raises(ValueError, match=f"{spec.data_name}.*at least one row"):
        spec.fit(matrix)


@pytest.mark.parametrize("matrix", ["abc", None, 3.0, {"a": 1}], ids=repr)
def test_non_matrix_rejected(spec, matrix):
    with pytest.raises(TypeError, match=f"{spec.data_name} must be a scipy.sparse matrix"):
        spec.fit(matrix)


def test_dataframe_error_points_to_from_dataframe(spec):
    pd = pytest.importorskip("pandas")
    log = pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "value": [1.0, 2.0]})
    with pytest.raises(TypeError, match=r"mfkit\.datasets\.from_dataframe\(df, user_col="):
        spec.fit(log)


@pytest.mark.parametrize("array", [np.array([["a", "b"]]), np.array([[1, None]], dtype=object),
                                   np.array([[1 + 1j, 0]])], ids=["str", "object", "complex"])
def test_non_numeric_data_rejected(spec, array):
    with pytest.raises(TypeError, match=spec.data_name):
        spec.fit(array)


def hand_built_csr(indices, shape=(2, 3)):
    """A 2 x 3 CSR with the given column indices (two entries per row)."""
    data = np.ones(4)
    indptr = np.array([0, 2, 4])
    try:
        matrix = sp.csr_matrix((data, np.asarray(indices), indptr), shape=shape)
    except ValueError:  # scipy may refuse bad indices itself: build valid, then corrupt.
        matrix = sp.csr_matrix((data, np.array([0, 1, 0, 2]), indptr), shape=shape)
        matrix.indices[:] = indices
    assert list(matrix.indices) == list(indices)
    return matrix


@pytest.mark.parametrize("indices", [[0, 1, 0, 3], [0, 1, 0, 99], [0, -1, 0, 2],
                                     [-5, 1, 0, 2]], ids=["col=n", "col>n", "neg", "neg-first"])
def test_out_of_range_column_indices_rejected(spec, indices):
    with pytest.raises(ValueError, match=f"{spec.data_name} has column indices outside"):
        spec.fit(hand_built_csr(indices))


def test_malformed_indptr_rejected(spec):
    matrix = hand_built_csr([0, 1, 0, 2])
    matrix.indptr[1] = 5  # decreasing afterwards and beyond nnz
    with pytest.raises(ValueError, match=f"{spec.data_name} has a malformed indptr"):
        spec.fit(matrix)


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("data_dtype", [np.float32, np.int32, np.int64, np.uint8, bool])
def test_data_dtypes_give_the_same_model(spec, data, data_dtype, model_dtype):
    """The storage type of the values (sparse or dense) never matters, only the values."""
    whole = data.copy()  # whole values: no type turns a stored value into a zero
    whole.data = np.sign(whole.data) * np.ceil(np.abs(whole.data))
    converted = whole.astype(data_dtype)
    model = spec.fit(converted, dtype=model_dtype)
    for name in ("user", "item"):
        for value in per_row_arrays(model, name).values():
            assert value.dtype == model_dtype
    assert_same_fitted_model(model, spec.fit(converted.astype(np.float64), dtype=model_dtype))
    assert_same_fitted_model(spec.fit(converted.toarray(), dtype=model_dtype), model)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "dok", "bsr"])
def test_other_sparse_formats_are_converted_with_a_warning(spec, data, fmt):
    with pytest.warns(UserWarning, match=f"{spec.data_name} is in {fmt.upper()} format"):
        model = spec.fit(data.asformat(fmt))
    assert_same_fitted_model(model, spec.fit(data))


def test_dense_arrays_lists_and_csr_arrays(spec, data):
    expected = spec.fit(data)
    assert_same_fitted_model(spec.fit(data.toarray()), expected)
    assert_same_fitted_model(spec.fit(sp.csr_array(data)), expected)
    assert_same_fitted_model(spec.fit(data.toarray().tolist()), expected)


def test_training_matrix_is_never_modified(spec):
    """An unsorted CSR with a duplicated cell and a stored zero: the caller's arrays stay as they
    are whether the model sums the duplicates or refuses them."""
    dense = spec.data()[:6, :8].toarray()
    rows, cols = np.nonzero(dense)
    rows, cols, values = rows[::-1], cols[::-1], dense[rows, cols][::-1]  # unsorted
    rows, cols = np.r_[rows, rows[0], 5], np.r_[cols, cols[0], 7]
    values = np.r_[values, 1.0, 0.0]  # a second entry for one cell, then a stored zero
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=6))]
    order = np.argsort(rows, kind="stable")
    matrix = sp.csr_matrix((values[order], cols[order], indptr), shape=(6, 8))
    before = (matrix.data.copy(), matrix.indices.copy(), matrix.indptr.copy())
    if spec.sums_duplicates:
        summed = sp.csr_matrix((values, (rows, cols)), shape=(6, 8))
        assert_same_fitted_model(spec.fit(matrix), spec.fit(summed))
    else:
        with pytest.raises(ValueError, match=f"{spec.data_name} stores 1 duplicate"):
            spec.fit(matrix)
    for a, b in zip(before, (matrix.data, matrix.indices, matrix.indptr)):
        np.testing.assert_array_equal(a, b)
