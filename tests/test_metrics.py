"""Ranking metrics and rating errors: hand examples, brute force, backends, threads, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_implicit_matrix

import mfkit
from mfkit import _cpp, _ranking, evaluation, reference
from mfkit._csr import csr_arrays

METRICS = ("precision", "recall", "map", "ndcg", "hit_rate", "mrr", "auc")


def model_with(user_factors, item_factors, backend="cpp", num_threads=1):
    """An unfitted ALS given factors directly: all evaluation needs."""
    model = mfkit.ALS(backend=backend, num_threads=num_threads)
    model.user_factors = np.asarray(user_factors)
    model.item_factors = np.asarray(item_factors)
    return model


def scores_model(scores, backend="cpp"):
    """A model whose score matrix x_uᵀy_i is exactly ``scores`` (users x items)."""
    scores = np.asarray(scores, dtype=np.float64)
    return model_with(scores, np.eye(scores.shape[1]), backend)


def csr(rows, n_items):
    """CSR (users x items) with ones at the listed items of each row."""
    dense = np.zeros((len(rows), n_items))
    for u, items in enumerate(rows):
        dense[u, list(items)] = 1
    return sp.csr_matrix(dense)


def brute_force(scores, train, test, K):
    """Plain Python, straight from the definitions: per-user metrics averaged over the users
    with relevant items; AUC over all (relevant, non-relevant) candidate pairs, O(n²)."""
    per_user = []
    for u in range(scores.shape[0]):
        liked = set(train[u].indices.tolist())
        candidates = [i for i in range(scores.shape[1]) if i not in liked]
        relevant = set(test[u].indices.tolist()) - liked
        if not relevant:
            continue
        s = [float(x) for x in scores[u]]
        ranked = sorted(candidates, key=lambda i: (-s[i], i))[:K]
        rel = [1 if i in relevant else 0 for i in ranked]
        hits = sum(rel)
        ap = sum(sum(rel[:k]) / k for k in range(1, len(rel) + 1) if rel[k - 1])
        dcg = sum(r / math.log2(k + 1) for k, r in enumerate(rel, start=1))
        idcg = sum(1 / math.log2(k + 1) for k in range(1, min(K, len(relevant)) + 1))
        first = next((k for k, r in enumerate(rel, start=1) if r), None)
        negatives = [j for j in candidates if j not in relevant]
        pairs = [(s[i] > s[j]) + 0.5 * (s[i] == s[j]) for i in relevant for j in negatives]
        per_user.append([hits / K, hits / len(relevant), ap / min(K, len(relevant)), dcg / idcg,
                         float(hits > 0), 1 / first if first else 0.0,
                         sum(pairs) / len(pairs) if pairs else math.nan])
    values = np.array(per_user)
    result = {name: float(np.mean(values[:, j])) for j, name in enumerate(METRICS)}
    result["auc"] = float(np.nanmean(values[:, -1]))
    result["users"] = len(per_user)
    return result


@pytest.fixture(params=["cpp", "reference"])
def backend(request):
    return request.param


# ---------------------------------------------------------------------- hand-computed examples
def test_hand_example(backend):
    # Ranking [a, b, c, d] (scores 4 > 3 > 2 > 1), relevant {b, d}, K = 3: L = [a, b, c].
    model = scores_model([[4, 3, 2, 1]], backend)
    train, test = csr([[]], 4), csr([[1, 3]], 4)
    result = evaluation.ranking_metrics(model, train, test, K=3)
    assert result["precision"] == pytest.approx(1 / 3)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["map"] == pytest.approx((1 / 2) / min(3, 2))  # P@2 · rel_2 / min(K, |Te|)
    assert result["mrr"] == pytest.approx(1 / 2)
    assert result["ndcg"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert result["hit_rate"] == 1.0
    # Pairs (b,a) (b,c) (d,a) (d,c): only b > c is ordered correctly.
    assert result["auc"] == pytest.approx(1 / 4)
    assert result["users"] == 1
    assert set(result) == set(METRICS) | {"users"}
    functions = [evaluation.precision_at_k, evaluation.recall_at_k, evaluation.map_at_k,
                 evaluation.ndcg_at_k, evaluation.hit_rate_at_k, evaluation.mrr_at_k]
    for name, function in zip(METRICS, functions):
        assert function(model, train, test, K=3) == result[name]
    assert evaluation.auc(model, train, test) == result["auc"]


def test_normalized_average_precision(backend):
    # The MovieLens-tutorial AP: Σ P@k·rel_k divided by min(K, |relevant|).
    scores = [list(range(10, 0, -1))]  # ranking = item ids 0..9 in order
    model = scores_model(scores, backend)
    # Hits at ranks 1, 3, 6 with 3 relevant items, K = 10: (1 + 2/3 + 3/6) / 3.
    result = evaluation.ranking_metrics(model, csr([[]], 10), csr([[0, 2, 5]], 10), K=10)
    assert result["map"] == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)
    # 5 relevant items, K = 3, hits at ranks 1 and 2: (1 + 1) / min(3, 5), not / 5 nor / 2.
    result = evaluation.ranking_metrics(model, csr([[]], 10), csr([[0, 1, 7, 8, 9]], 10), K=3)
    assert result["map"] == pytest.approx(2 / 3)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 5)
    # A perfect list has AP = nDCG = 1 even when |Te| > K.
    result = evaluation.ranking_metrics(model, csr([[]], 10), csr([[0, 1, 2, 3]], 10), K=2)
    assert result["map"] == pytest.approx(1.0) and result["ndcg"] == pytest.approx(1.0)


def test_auc_ties_count_half(backend):
    # Relevant item 1 (score 1) against 0 (2: wrong), 2 (1: tie, ½), 3 (0: right) -> 1.5 / 3.
    model = scores_model([[2, 1, 1, 0]], backend)
    assert evaluation.auc(model, csr([[]], 4), csr([[1]], 4)) == pytest.approx(0.5)
    # Train items are not candidates: without item 0 the pairs are (1,2) tie and (1,3) right.
    assert evaluation.auc(model, csr([[0]], 4), csr([[1]], 4)) == pytest.approx(0.75)


def test_train_items_never_hits(backend):
    # Item 0 scores highest and is in both train and test: it is not ranked and not relevant.
    model = scores_model([[5, 4, 3, 2]], backend)
    result = evaluation.ranking_metrics(model, csr([[0]], 4), csr([[0, 2]], 4), K=2)
    # L = [1, 2], Te = {2}.
    assert result["precision"] == pytest.approx(1 / 2)
    assert result["recall"] == pytest.approx(1.0)
    assert result["mrr"] == pytest.approx(1 / 2)
    assert result["auc"] == pytest.approx(1 / 2)  # 2 beats 3, loses to 1


def test_users_without_test_items_are_skipped(backend):
    scores = [[4, 3, 2, 1], [1, 2, 3, 4], [1, 1, 1, 1], [9, 9, 0, 0]]
    model = scores_model(scores, backend)
    # User 1: no test items; user 3: its only test item is in train.
    train, test = csr([[], [], [], [1]], 4), csr([[1, 3], [], [0], [1]], 4)
    result = evaluation.ranking_metrics(model, train, test, K=3)
    assert result["users"] == 2
    alone = evaluation.ranking_metrics(scores_model([scores[0], scores[2]], backend),
                                       csr([[], []], 4), csr([[1, 3], [0]], 4), K=3)
    assert result == pytest.approx(alone)


def test_no_user_to_evaluate_raises(backend):
    model = scores_model([[4, 3, 2, 1], [1, 2, 3, 4]], backend)
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluation.ranking_metrics(model, csr([[], [2]], 4), csr([[], [2]], 4))


def test_every_candidate_relevant_gives_auc_nan(backend):
    model = scores_model([[4, 3, 2, 1], [4, 3, 2, 1]], backend)
    # User 0: all candidates relevant (AUC undefined, skipped in the AUC mean); user 1: 1/2.
    result = evaluation.ranking_metrics(model, csr([[0, 1], []], 4), csr([[2, 3], [1, 2]], 4),
                                        K=2)
    assert result["auc"] == pytest.approx(0.5)
    only = evaluation.ranking_metrics(model, csr([[0, 1], [0]], 4), csr([[2, 3], []], 4), K=2)
    assert math.isnan(only["auc"]) and only["precision"] == 1.0


# ---------------------------------------------------------------------- brute force, random
def random_case(seed, n_users=30, n_items=45, rank=3, dtype=np.float64, integer=True):
    """Random factors (small integers give many exactly tied scores) and train/test patterns
    with a few dense test rows (more than 32 relevant items: the searching AUC path)."""
    rng = np.random.default_rng(seed)
    draw = (lambda shape: rng.integers(-2, 3, shape)) if integer else rng.standard_normal
    user_factors = draw((n_users, rank)).astype(dtype)
    item_factors = draw((n_items, rank)).astype(dtype)
    train = sp.csr_matrix(rng.random((n_users, n_items)) < 0.15)
    test_density = np.where(np.arange(n_users) % 7 == 0, 0.9, 0.12)[:, None]
    test = sp.csr_matrix(rng.random((n_users, n_items)) < test_density)
    return user_factors, item_factors, train, test


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("K", [1, 5, 60])
def test_matches_brute_force(backend, seed, K):
    user_factors, item_factors, train, test = random_case(seed, integer=seed % 2 == 0)
    model = model_with(user_factors, item_factors, backend)
    expected = brute_force(user_factors @ item_factors.T, train, test, K)
    result = evaluation.ranking_metrics(model, train, test, K=K)
    assert result["users"] == expected["users"]
    for name in METRICS:
        assert result[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-12), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("integer", [True, False])
def test_cpp_equals_reference(dtype, integer):
    user_factors, item_factors, train, test = random_case(7, 40, 70, 4, dtype, integer)
    scores = user_factors @ item_factors.T
    scores[3, 5] = -np.inf  # a candidate never selected but counted in AUC
    args = (scores, csr_arrays(train.astype(dtype)), csr_arrays(test.astype(dtype)))
    for K in (1, 10, 100):
        cpp = _cpp.ranking_metrics_block(*args, K, num_threads=2)
        ref = reference.ranking_metrics_block(*args, K, num_threads=1)
        assert cpp.shape == (40, 7) and cpp.dtype == np.float64
        np.testing.assert_allclose(cpp, ref, rtol=0, atol=1e-12)  # NaN rows at the same places


def test_threads_do_not_change_results():
    # Big enough (rows x items >= 1e6) for the kernel to run a team of threads.
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((500, 2100)).astype(np.float32)
    train = sp.csr_matrix(rng.random(scores.shape) < 0.02)
    test_density = np.where(np.arange(500) % 5 == 0, 0.03, 0.005)[:, None]
    test = sp.csr_matrix(rng.random(scores.shape) < test_density)
    args = (scores, csr_arrays(train.astype(np.float32)), csr_arrays(test.astype(np.float32)), 20)
    one = _cpp.ranking_metrics_block(*args, num_threads=1)
    two = _cpp.ranking_metrics_block(*args, num_threads=2)
    np.testing.assert_array_equal(one, two)


def test_fitted_model_backends_and_blocks_agree(monkeypatch):
    data = make_implicit_matrix(seed=2, n_users=60, n_items=40, density=0.2)
    rng = np.random.default_rng(0)
    held_out = sp.csr_matrix(data.multiply(rng.random(data.shape) < 0.3))
    held_out.eliminate_zeros()
    train = data - held_out
    train.eliminate_zeros()
    model = mfkit.ALS(factors=6, iterations=3, random_state=0, num_threads=1).fit(
        train, show_progress=False)
    cpp = evaluation.ranking_metrics(model, train, held_out, K=5)
    model.backend = "reference"
    assert evaluation.ranking_metrics(model, train, held_out, K=5) == pytest.approx(cpp,
                                                                                    abs=1e-12)
    model.backend = "cpp"
    monkeypatch.setattr(_ranking, "_SCORES_PER_BLOCK", 7 * 40)  # blocks of 7 users
    assert evaluation.ranking_metrics(model, train, held_out, K=5) == pytest.approx(cpp,
                                                                                    abs=1e-12)
    assert evaluation.ranking_metrics(model, train, held_out, K=5, num_threads=2) == cpp
    # Dense inputs are accepted and the caller's matrices are left alone.
    before = train.copy()
    assert evaluation.ranking_metrics(model, train.toarray(), held_out.toarray(), K=5) == cpp
    assert (train != before).nnz == 0


# ---------------------------------------------------------------------- bad input
@pytest.fixture
def small():
    model = scores_model([[4, 3, 2, 1], [1, 2, 3, 4]])
    return model, csr([[0], []], 4), csr([[1], [2]], 4)


def test_shape_mismatch_names_the_argument(small):
    model, train, test = small
    with pytest.raises(ValueError, match="train.*items"):
        evaluation.ranking_metrics(model, csr([[0], []], 5), test)
    with pytest.raises(ValueError, match="test.*users"):
        evaluation.ranking_metrics(model, train, csr([[1], [2], [3]], 4))
    with pytest.raises(TypeError, match="test"):
        evaluation.ranking_metrics(model, train, "not a matrix")


def test_bad_k_and_threads(small):
    model, train, test = small
    with pytest.raises(ValueError, match="K must be >= 1"):
        evaluation.precision_at_k(model, train, test, K=0)
    with pytest.raises(TypeError, match="K"):
        evaluation.ranking_metrics(model, train, test, K=2.5)
    with pytest.raises(ValueError, match="num_threads"):
        evaluation.ranking_metrics(model, train, test, num_threads=-1)
    with pytest.raises(ValueError, match="K must be >= 1"):
        _cpp.ranking_metrics_block(np.zeros((2, 4)), csr_arrays(train), csr_arrays(test), 0,
                                   num_threads=1)


def test_bad_model(small):
    _, train, test = small
    with pytest.raises(mfkit.NotFittedError, match="not fitted"):
        evaluation.ranking_metrics(mfkit.ALS(), train, test)
    with pytest.raises(TypeError, match="model"):
        evaluation.ranking_metrics(object(), train, test)
    broken = model_with([[np.nan], [1.0]], [[1.0], [2.0], [3.0], [4.0]])
    with pytest.raises(ValueError, match="user_factors"):
        evaluation.ranking_metrics(broken, train, test)


def test_kernels_reject_nan_scores_and_bad_patterns(small):
    _, train, test = small
    scores = np.array([[4.0, 3, np.nan, 1], [1, 2, 3, 4]])
    for module in (_cpp, reference):
        with pytest.raises(ValueError, match="NaN"):
            module.ranking_metrics_block(scores, csr_arrays(train), csr_arrays(test), 2,
                                         num_threads=1)
    scores[0] = [np.nan, 3, 2, 1]  # NaN at a train item: never looked at
    for module in (_cpp, reference):
        assert not np.isnan(module.ranking_metrics_block(
            scores, csr_arrays(train), csr_arrays(test), 2, num_threads=1)).any()
    bad = csr_arrays(test)._replace(indices=np.array([1, 9], dtype=np.int32))
    with pytest.raises(ValueError, match="test: column index out of range"):
        _cpp.ranking_metrics_block(scores, csr_arrays(train), bad, 2, num_threads=1)
    with pytest.raises(ValueError, match="train"):
        _cpp.ranking_metrics_block(scores[:1], csr_arrays(train), csr_arrays(test), 2,
                                   num_threads=1)


# ---------------------------------------------------------------------- rating errors
def test_rmse_mae_hand_values():
    y_true, y_pred = [1, 2, 3], [1.0, 4.0, 0.0]  # errors 0, -2, 3
    assert evaluation.rmse(y_true, y_pred) == pytest.approx(math.sqrt(13 / 3))
    assert evaluation.mae(y_true, y_pred) == pytest.approx(5 / 3)
    assert evaluation.rmse(np.array([2.5]), np.array([2.5])) == 0.0


@pytest.mark.parametrize("function", [evaluation.rmse, evaluation.mae])
def test_rating_errors_validate_inputs(function):
    with pytest.raises(ValueError, match="same length"):
        function([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="y_true is empty"):
        function([], [])
    with pytest.raises(ValueError, match="y_pred must be 1-D"):
        function([1, 2], [[1, 2]])
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        function([1, 2], [1, np.nan])
    with pytest.raises(TypeError, match="y_true"):
        function(["a", "b"], [1, 2])
