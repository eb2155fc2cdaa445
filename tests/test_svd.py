"""mfkit.SVD: the singular triplets against scipy's dense SVD, the filter scores, the projection
fold-in, C++ against the numpy backend, determinism and bad inputs (the shared serving /
persistence contract runs in test_contract.py)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp

import mfkit
from mfkit.reference.svd import degree_power, spectral_scores


def counts(n_users=70, n_items=45, seed=0, rank=3):
    """Non-negative counts with a few strong directions (a decaying spectrum), one empty user
    and one empty item."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(1.0, 1.0, (n_users, rank)) @ rng.gamma(1.0, 1.0, (rank, n_items)) / rank
    dense = rng.poisson(rates * (rng.random((n_users, n_items)) < 0.3)).astype(np.float64)
    dense[5] = 0
    dense[:, 7] = 0
    return sp.csr_matrix(dense)


def normalized_dense(matrix, gamma, beta):
    dense = matrix.toarray()
    return (degree_power(dense.sum(1), -gamma)[:, None] * dense
            * degree_power(dense.sum(0), -beta)[None, :])


def fit(matrix, **params):
    defaults = dict(factors=6, dtype=np.float64, random_state=0, num_threads=1,
                    user_exponent=0.5, item_exponent=0.5, popularity_exponent=0.0)
    return mfkit.SVD(**{**defaults, **params}).fit(matrix, show_progress=False)


def projector(V):
    Q, _ = np.linalg.qr(V)
    return Q @ Q.T


@pytest.mark.parametrize("gamma, beta", [(0.0, 0.0), (0.5, 0.5), (1.0, 0.25)])
@pytest.mark.parametrize("backend", ["cpp", "reference"])
def test_full_basis_gives_the_exact_svd(gamma, beta, backend):
    """With a basis as large as the smaller side, Rayleigh–Ritz is exact: the singular values
    and the right singular subspace of D_U^{-γ} R D_I^{-β} are scipy's."""
    matrix = counts()
    model = fit(matrix, user_exponent=gamma, item_exponent=beta, oversampling=64,
                power_iterations=1, backend=backend)
    _, S, Vt = scipy.linalg.svd(normalized_dense(matrix, gamma, beta))
    np.testing.assert_allclose(model.singular_values, S[:6], rtol=1e-10, atol=1e-12)
    # undo D_I^{-β} (the empty item's row stays 0, as in V)
    V = model.item_projection * degree_power(np.asarray(matrix.sum(0)).ravel(), beta)[:, None]
    np.testing.assert_allclose(projector(V), projector(Vt[:6].T), atol=1e-9)


def test_power_iterations_converge_to_the_leading_subspace():
    """A partial basis (k + 10 of 45 columns) on a decaying spectrum: the power steps bring the
    singular values and the subspace to scipy's, and more steps are more accurate."""
    matrix = counts(rank=3)
    _, S, Vt = scipy.linalg.svd(normalized_dense(matrix, 0.5, 0.5))
    errors = []
    for steps in (0, 2, 8):
        model = fit(matrix, factors=3, oversampling=0, power_iterations=steps)
        V = model.item_factors  # δ = 0: D_I^{½} V
        V = V * degree_power(np.asarray(matrix.sum(0)).ravel(), -0.5)[:, None]
        errors.append(np.abs(projector(V) - projector(Vt[:3].T)).max())
        if steps == 8:
            np.testing.assert_allclose(model.singular_values, S[:3], rtol=1e-6)
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 1e-3


@pytest.mark.parametrize("delta", [0.0, -0.3, 0.4])
def test_scores_are_the_low_pass_filter(delta):
    """recommend's scores are r_u D_I^{-β} V Vᵀ D_I^{β+δ} of the formula's twin."""
    matrix = counts()
    model = fit(matrix, popularity_exponent=delta, item_exponent=0.3)
    V = model.item_projection * degree_power(np.asarray(matrix.sum(0)).ravel(), 0.3)[:, None]
    expected = spectral_scores(matrix[[0, 3]], np.asarray(matrix.sum(0)).ravel(), V, 0.3, delta)
    ids, scores = model.recommend([0, 3], filter_already_liked_items=False, N=45)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, ids, axis=1), atol=1e-12)
    # the empty item has no factor and scores 0
    assert not model.item_factors[7].any() and not model.item_projection[7].any()


def test_fold_in_is_the_fitted_projection():
    """A user's factor is the projection of its history: fold-in of the training rows gives the
    fitted factors exactly, and partial_fit_users of a training row leaves it unchanged."""
    matrix = counts()
    model = fit(matrix)
    np.testing.assert_array_equal(model._fold_in_users(matrix), model.user_factors)
    before = model.user_factors.copy()
    model.partial_fit_users([2, 9], matrix[[2, 9]])
    np.testing.assert_array_equal(model.user_factors, before)
    ids, scores = model.recommend(12, matrix[[12]])
    new_ids, new_scores = model.recommend(100, matrix[[12]], recalculate_user=True)
    np.testing.assert_array_equal(ids, new_ids)
    np.testing.assert_array_equal(scores, new_scores)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 2e-4)])
def test_cpp_equals_reference(dtype, tol):
    matrix = counts(n_users=90, n_items=60)
    cpp, ref = (fit(matrix, factors=5, dtype=dtype, backend=backend, power_iterations=4)
                for backend in ("cpp", "reference"))
    np.testing.assert_allclose(cpp.singular_values, ref.singular_values, rtol=tol)
    scale = np.abs(ref.user_factors @ ref.item_factors.T).max()
    np.testing.assert_allclose(cpp.user_factors @ cpp.item_factors.T,
                               ref.user_factors @ ref.item_factors.T, atol=tol * scale)


def test_deterministic_and_independent_of_threads():
    matrix = sp.random(400, 300, density=0.05, random_state=3, format="csr")
    models = [fit(matrix, factors=20, num_threads=threads, dtype=np.float32)
              for threads in (1, 2, 1)]
    for model in models[1:]:
        for name in mfkit.SVD._fitted_arrays:
            np.testing.assert_array_equal(getattr(model, name), getattr(models[0], name))
    other = fit(matrix, factors=20, dtype=np.float32, random_state=1)
    assert not np.array_equal(other.item_factors, models[0].item_factors)


def test_wide_matrix_uses_the_user_side_basis():
    """More items than users: the basis lives on the user side; the item vectors come from the
    final product and still match scipy."""
    matrix = counts(n_users=40, n_items=90).T.tocsr().T.tocsr()
    model = fit(matrix, factors=4, oversampling=64)
    _, S, Vt = scipy.linalg.svd(normalized_dense(matrix, 0.5, 0.5))
    np.testing.assert_allclose(model.singular_values, S[:4], rtol=1e-10)
    V = model.item_projection * degree_power(np.asarray(matrix.sum(0)).ravel(), 0.5)[:, None]
    np.testing.assert_allclose(projector(V), projector(Vt[:4].T), atol=1e-9)


def test_input_is_not_modified():
    matrix = counts()
    copy = matrix.copy()
    fit(matrix)
    assert (matrix != copy).nnz == 0 and matrix.dtype == copy.dtype


@pytest.mark.parametrize("change, match", [
    (lambda m: m.multiply(-1).tocsr(), "negative values"),
    (lambda m: m * 1e306, "overflow"),
])
def test_bad_data(change, match):
    with pytest.raises(ValueError, match=match):
        fit(change(counts()))


def test_factors_bounded_by_the_smaller_side():
    with pytest.raises(ValueError, match="factors must be at most"):
        fit(counts(n_users=70, n_items=45), factors=46)


def test_items_are_not_folded_in():
    model = fit(counts())
    with pytest.raises(NotImplementedError, match="SVD"):
        model.partial_fit_items([0], counts().T.tocsr()[[0]])


def test_search_space_names_constructor_arguments():
    kinds = {"log", "float", "int", "int_log", "categorical"}
    for name, spec in mfkit.SVD._search_space.items():
        assert name in mfkit.SVD._constructor_args
        assert spec[0] in kinds
        mfkit.SVD(**{name: spec[1]})._validate_params()
        if spec[0] != "categorical":
            mfkit.SVD(**{name: spec[2]})._validate_params()


# ------------------------------------------------------------------------- the item–item term
def item_item_expected(model, matrix, history, weight, delta):
    """Dense x_u · y_i + w (r_u ŘᵀŘ)_i d_i^δ, Ř = D_U^{-½} R D_I^{-½}."""
    normalized = normalized_dense(matrix, 0.5, 0.5)
    popularity = degree_power(np.asarray(matrix.sum(0)).ravel(), delta)
    folded = model._fold_in_users(history)
    return folded @ model.item_factors.T + \
        weight * (history.toarray() @ normalized.T @ normalized) * popularity


def brute_force_top(scores, N, excluded_rows=None, dropped=()):
    """ids / scores best first (ties by lower id), -inf entries and exclusions dropped."""
    scores = scores.copy()
    scores[:, list(dropped)] = -np.inf
    if excluded_rows is not None:
        scores[excluded_rows.toarray() != 0] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores))
    return order[:, :N], np.take_along_axis(scores, order[:, :N], axis=1)


@pytest.mark.parametrize("backend", ["cpp", "reference"])
@pytest.mark.parametrize("delta", [0.0, -0.3])
def test_item_item_scores_and_filters(backend, delta):
    matrix = counts()
    model = fit(matrix, item_item_weight=1.5, popularity_exponent=delta, backend=backend)
    users = np.array([0, 3, 5, 11])
    expected = item_item_expected(model, matrix, matrix[users], 1.5, delta)
    ids, scores = model.recommend(users, matrix[users], N=10)
    want_ids, want_scores = brute_force_top(expected, 10, matrix[users])
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-10)
    # filter_items, and a subset with fewer candidates than N (padded rows)
    ids, scores = model.recommend(users, matrix[users], N=10, filter_items=[1, 2, 3])
    np.testing.assert_array_equal(ids, brute_force_top(expected, 10, matrix[users], {1, 2, 3})[0])
    subset = [4, 9, 20, 30]
    ids, scores = model.recommend(users, matrix[users], N=10, items=subset)
    dropped = set(range(matrix.shape[1])) - set(subset)
    want_ids, want_scores = brute_force_top(expected, 4, matrix[users], dropped)
    want_ids[np.isinf(want_scores)] = -1
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-10)
    # one user (1-D result, liked items dropped, not padded)
    ids, scores = model.recommend(3, matrix[3], N=45)
    assert len(ids) == 45 - matrix[3].nnz and not set(ids) & set(matrix[3].indices)


def test_item_item_needs_histories_and_refuses_factor_evaluation():
    matrix = counts()
    model = fit(matrix, item_item_weight=1.0)
    with pytest.raises(ValueError, match="user_items is required"):
        model.recommend(0, None, filter_already_liked_items=False)
    with pytest.raises(ValueError, match="item_item_weight"):
        mfkit.evaluation.ranking_metrics(model, matrix, matrix, K=5)
    model.set_params(item_item_weight=0.0)  # a serving parameter: no refit needed
    plain = fit(matrix)
    np.testing.assert_array_equal(model.recommend([1, 2], matrix[[1, 2]])[0],
                                  plain.recommend([1, 2], matrix[[1, 2]])[0])


def test_item_item_survives_save_and_load(tmp_path):
    matrix = counts()
    model = fit(matrix, item_item_weight=0.7)
    model.save(tmp_path / "svd.npz")
    loaded = mfkit.load(tmp_path / "svd.npz")
    rows = matrix[[0, 4]]
    for a, b in zip(model.recommend([0, 4], rows), loaded.recommend([0, 4], rows)):
        np.testing.assert_array_equal(a, b)


def test_approximate_serving_with_an_exact_index_and_the_item_item_term_refused():
    pytest.importorskip("faiss")
    matrix = counts()
    model = fit(matrix, factors=6)
    model.build_index("faiss", index="Flat")
    users = np.arange(12)
    exact = model.recommend(users, matrix[users], N=5)
    approximate = model.recommend(users, matrix[users], N=5, approximate=True)
    np.testing.assert_array_equal(approximate[0], exact[0])
    np.testing.assert_allclose(approximate[1], exact[1], rtol=1e-6)
    model.set_params(item_item_weight=0.5)
    with pytest.raises(ValueError, match="item_item_weight"):
        model.recommend(users, matrix[users], N=5, approximate=True)
