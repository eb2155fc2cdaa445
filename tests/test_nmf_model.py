"""mfkit.NMF: C++ vs reference, non-negativity, missing="ignore", convergence warning, fold-in as
transform, its scikit-learn attributes after loading, and determinism."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._cpp
import mfkit.reference


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def data(seed=0, n=50, m=35, density=0.15):
    """Seeded non-negative counts-like matrix (float64) with one empty row and column."""
    X = mfkit.datasets.synthetic(n, m, density, seed=seed).astype(np.float64).tolil()
    X[4, :] = 0
    X[:, 6] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    return X


def fit(X, **params):
    params.setdefault("random_state", 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        return mfkit.NMF(**params).fit(X, show_progress=False)


CONFIGS = [
    dict(solver="cd"),
    dict(solver="cd", missing="ignore"),
    dict(solver="mu"),
    dict(solver="mu", missing="ignore"),
    dict(solver="mu", beta_loss="kullback-leibler"),
    dict(solver="mu", beta_loss="kullback-leibler", missing="ignore"),
]
CONFIG_IDS = ["cd", "cd-ignore", "mu", "mu-ignore", "kl", "kl-ignore"]


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_backends_agree(config, dtype):
    X = data(1)
    penalty = dict(alpha_W=0.001, alpha_H=0.002, l1_ratio=0.4)
    models = [fit(X, n_components=4, max_iter=15, tol=0, dtype=dtype, backend=backend,
                  **penalty, **config) for backend in ("cpp", "reference")]
    cpp, ref = models
    tol = 1e-9 if dtype == np.float64 else 2e-4
    assert cpp.user_factors.dtype == ref.user_factors.dtype == dtype
    assert rel(cpp.user_factors, ref.user_factors) <= tol
    assert rel(cpp.item_factors, ref.item_factors) <= tol
    assert cpp.reconstruction_err_ == pytest.approx(ref.reconstruction_err_, rel=tol)
    new = data(2, n=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        assert rel(cpp.transform(new), ref.set_params(backend="reference").transform(new)) <= \
            (1e-7 if dtype == np.float64 else 1e-3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernels_agree(dtype):
    X = data(3).astype(dtype)
    from mfkit._csr import csr_arrays

    rows, cols = csr_arrays(X), csr_arrays(X.T.tocsr())
    rng = np.random.default_rng(0)
    W = rng.uniform(0, 1, (X.shape[0], 5)).astype(dtype)
    H = rng.uniform(0, 1, (X.shape[1], 5)).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert rel(mfkit._cpp.csr_matmul(rows, H, num_threads=2),
               mfkit.reference.csr_matmul(rows, H)) <= tol
    assert rel(mfkit._cpp.nmf_gram(W, num_threads=2), mfkit.reference.nmf_gram(W)) <= tol
    scattered = mfkit._cpp.csr_transpose_matmul(rows, cols.indptr, W, num_threads=2)
    assert rel(scattered, mfkit.reference.csr_transpose_matmul(rows, cols.indptr, W)) <= tol
    # the scatter sums in the same order as the gather over the transpose: identical numbers
    assert np.array_equal(scattered, mfkit._cpp.csr_matmul(cols, W, num_threads=1))
    for loss in ("frobenius", "kullback-leibler"):
        for missing in ("zero", "ignore"):
            args = dict(beta_loss=loss, missing=missing, num_threads=2)
            assert mfkit._cpp.nmf_loss(rows, W, H, **args) == pytest.approx(
                mfkit.reference.nmf_loss(rows, W, H, **args), rel=tol * 10)


@pytest.mark.parametrize("solver", ["cd", "mu"])
def test_update_shortcuts_change_nothing(solver):
    """Precomputed products and grams (what the fit passes between steps) give the same
    update as the kernel computing everything itself, and the returned gram is XᵀX."""
    from mfkit._csr import csr_arrays

    X = mfkit.datasets.synthetic(300, 80, 0.05, seed=2).astype(np.float64)
    rows, cols = csr_arrays(X), csr_arrays(X.T.tocsr())
    rng = np.random.default_rng(1)
    W = rng.uniform(0, 1, (300, 6))
    H = rng.uniform(0, 1, (80, 6))
    for backend in (mfkit._cpp, mfkit.reference):
        update = backend.nmf_cd_update if solver == "cd" else (
            lambda *a, backend=backend, **kw: backend.nmf_mu_update(
                *a, beta_loss="frobenius", flush_below=0.0, **kw))
        common = dict(l1=0.01, l2=0.02, missing="zero", num_threads=2)
        plain = H.copy()
        update(cols, W, plain, **common)
        fast, gram = H.copy(), np.empty((6, 6))
        products = backend.csr_transpose_matmul(rows, cols.indptr, W, num_threads=2)
        update(cols, W, fast, products=products, fixed_gram=W.T @ W, solved_gram=gram, **common)
        assert rel(fast, plain) <= 1e-12
        assert rel(gram, fast.T @ fast) <= 1e-12


def test_results_do_not_depend_on_threads():
    # large enough for the kernels to use a team (they stay serial below ~2e7 flops a sweep)
    X = mfkit.datasets.synthetic(40_000, 500, 0.01, seed=4)
    for config in CONFIGS:
        one = fit(X, n_components=16, max_iter=4, tol=0, num_threads=1, init="random", **config)
        two = fit(X, n_components=16, max_iter=4, tol=0, num_threads=2, init="random", **config)
        assert np.array_equal(one.user_factors, two.user_factors), config
        assert np.array_equal(one.item_factors, two.item_factors), config


def test_same_seed_same_model_and_no_products_shortcut_difference():
    X = data(5)
    a = fit(X, n_components=5, max_iter=20, init="random", random_state=3)
    b = fit(X, n_components=5, max_iter=20, init="random", random_state=3)
    c = fit(X, n_components=5, max_iter=20, init="random", random_state=4)
    assert np.array_equal(a.user_factors, b.user_factors)
    assert not np.array_equal(a.user_factors, c.user_factors)
    # wide matrix: the W step also goes through the scatter product; the reference never does
    wide = data(6, n=30, m=80)
    cpp = fit(wide, n_components=4, max_iter=10, tol=0, dtype=np.float64)
    ref = fit(wide, n_components=4, max_iter=10, tol=0, dtype=np.float64, backend="reference")
    assert rel(cpp.user_factors, ref.user_factors) <= 1e-9


# ------------------------------------------------------------------ maths properties
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "nndsvdar", "random"])
def test_factors_never_negative(config, init):
    X = data(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = fit(X, n_components=5, max_iter=30, init=init, alpha_W=0.01, l1_ratio=0.7,
                    **config)
        W_new = model.transform(data(8, n=10))
    for array in (model.user_factors, model.item_factors, model.components_, W_new):
        assert np.all(np.isfinite(array)) and np.all(array >= 0)


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_objective_decreases(config):
    X = data(9)
    losses = [fit(X, n_components=4, max_iter=it, tol=0, dtype=np.float64, **config).loss(X)
              for it in (1, 5, 25)]
    assert losses[0] >= losses[1] >= losses[2]


def test_missing_ignore_ignores_unstored_cells():
    """The fit equals a dense masked implementation in which the unstored cells hold arbitrary
    values: changing an unstored cell's implied value changes nothing."""
    rng = np.random.default_rng(0)
    X = data(10, n=25, m=18, density=0.3)
    mask = X.toarray() != 0
    eps = np.finfo(np.float32).eps
    k = 3
    W0, H0 = rng.uniform(0.1, 1, (25, k)), rng.uniform(0.1, 1, (k, 18))
    for garbage_seed in (1, 2):
        garbage = np.where(mask, X.toarray(), np.random.default_rng(garbage_seed).uniform(
            0, 20, X.shape))
        W, H = W0.copy(), H0.copy()
        for _ in range(15):  # weighted multiplicative updates (Zhang et al. 2006), dense
            den = (mask * (W @ H)) @ H.T
            W *= ((mask * garbage) @ H.T) / np.where(den == 0, eps, den)
            den = W.T @ (mask * (W @ H))
            H *= (W.T @ (mask * garbage)) / np.where(den == 0, eps, den)
        model = mfkit.NMF(k, solver="mu", init="custom", missing="ignore", max_iter=15, tol=0,
                          dtype=np.float64).fit(X, W=W0, H=H0, show_progress=False)
        assert rel(model.user_factors, W) <= 1e-9
        assert rel(model.components_, H) <= 1e-9
        masked = 0.5 * np.sum(mask * (garbage - model.user_factors @ model.components_) ** 2)
        assert model.loss(X) == pytest.approx(masked, rel=1e-12)


def test_missing_ignore_cd_reaches_the_masked_optimum():
    """Coordinate descent with missing="ignore" converges to a KKT point of the masked
    objective (computed densely here, unstored cells filled with arbitrary values)."""
    X = data(11, n=25, m=18, density=0.35)
    mask = X.toarray() != 0
    garbage = np.where(mask, X.toarray(), 7.0)
    model = fit(X, n_components=3, solver="cd", missing="ignore", max_iter=3000, tol=1e-10,
                dtype=np.float64, init="random")
    W, H = model.user_factors, model.components_
    residual = mask * (W @ H - garbage)

    def projected(gradient, x):
        return np.where(x > 0, gradient, np.minimum(gradient, 0))

    scale = np.abs(mask * garbage).max() * np.abs(W).max() * mask.sum(axis=1).max()
    assert np.abs(projected(residual @ H.T, W)).max() <= 1e-6 * scale
    assert np.abs(projected(W.T @ residual, H)).max() <= 1e-6 * scale
    zero = fit(X, n_components=3, solver="cd", max_iter=300, dtype=np.float64, init="random")
    assert not np.allclose(zero.user_factors, W, atol=1e-3)  # the option does change the model
    # empty rows and columns have nothing observed: zero factors
    assert not W[4].any() and not H[:, 6].any()


def test_convergence_warning():
    X = data(12)
    with pytest.warns(mfkit.ConvergenceWarning, match="max_iter"):
        mfkit.NMF(4, max_iter=2, tol=1e-12, random_state=0).fit(X, show_progress=False)
    with pytest.warns(mfkit.ConvergenceWarning):
        mfkit.NMF(4, solver="mu", max_iter=10, tol=1e-12, random_state=0).fit(
            X, show_progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = mfkit.NMF(4, max_iter=3, tol=0, random_state=0).fit(X, show_progress=False)
        assert model.n_iter_ == 3
        model = mfkit.NMF(4, max_iter=2000, tol=1e-3, random_state=0).fit(X, show_progress=False)
        assert model.n_iter_ < 2000
    assert issubclass(mfkit.ConvergenceWarning, UserWarning)


def test_callback_and_progress():
    X = data(13)
    seen = []
    mfkit.NMF(3, max_iter=4, tol=0, random_state=0).fit(
        X, callback=lambda *args: seen.append(args), show_progress=True)
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    assert seen[0][2] == 1.0 and all(isinstance(s[1], float) for s in seen)
    seen.clear()
    with pytest.warns(mfkit.ConvergenceWarning):
        mfkit.NMF(3, solver="mu", max_iter=20, tol=1e-9, random_state=0).fit(
            X, callback=lambda *args: seen.append(args), show_progress=False)
    assert [s[2] is None for s in seen] == [i % 10 != 9 for i in range(len(seen))]


# ------------------------------------------------------------------ API
def test_attributes_and_sklearn_api():
    X = data(14)
    model = mfkit.NMF(5, random_state=0)
    W = model.fit_transform(X, show_progress=False)
    assert model.user_factors.dtype == np.float32  # default dtype
    for array in (model.user_factors, model.item_factors, model.components_):
        assert array.flags.c_contiguous and array.dtype == np.float32
    assert np.array_equal(W, model.user_factors) and W is not model.user_factors
    assert np.array_equal(model.components_, model.item_factors.T)
    assert model.components_.shape == (5, X.shape[1]) and model.n_components_ == 5
    assert model.n_features_in_ == X.shape[1]
    assert isinstance(model.n_iter_, int) and isinstance(model.reconstruction_err_, float)
    assert model.reconstruction_err_ == pytest.approx(
        np.linalg.norm(X.toarray() - W.astype(np.float64) @ model.components_), rel=1e-4)
    assert np.allclose(model.inverse_transform(W), W @ model.components_)
    assert model.fit(X, show_progress=False) is model
    clone = __import__("sklearn.base", fromlist=["clone"]).clone(model)
    assert clone.get_params() == model.get_params()
    with pytest.raises(mfkit.NotFittedError):
        _ = mfkit.NMF(3).components_
    with pytest.raises(mfkit.NotFittedError):
        mfkit.NMF(3).transform(X)
    assert not hasattr(mfkit.NMF(3), "n_iter_")


def test_transform_of_training_rows_and_empty_rows():
    X = data(15)
    model = fit(X, n_components=4, max_iter=500, tol=1e-6, dtype=np.float64)
    W = model.transform(X)
    assert model.loss(X, W) <= model.loss(X) * (1 + 1e-3)
    empty = sp.csr_matrix((2, X.shape[1]))
    assert not model.transform(empty).any()
    dense_rows = model.transform(X[:5].toarray())
    assert np.allclose(dense_rows, W[:5])


def test_sparse_input_stays_sparse_and_untouched():
    """A matrix whose dense form would need 80 GB fits (so X is never densified), and the
    caller's arrays are not modified."""
    rng = np.random.default_rng(0)
    n, m, nnz = 200_000, 50_000, 3000
    X = sp.csr_matrix((rng.uniform(1, 3, nnz), (rng.integers(0, n, nnz), rng.integers(0, m, nnz))),
                      shape=(n, m))
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    for init in ("random", "nndsvda"):
        model = fit(X, n_components=2, max_iter=3, init=init)
        assert model.user_factors.shape == (n, 2)
    assert all(np.array_equal(a, b) for a, b in zip(before, (X.data, X.indices, X.indptr)))
    unsorted = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 1]),
                              np.array([0, 3, 3])), shape=(2, 3))
    data_before = unsorted.indices.copy()
    fit(unsorted, n_components=1, max_iter=2, init="random")
    assert np.array_equal(unsorted.indices, data_before)


def test_recommend_with_fold_in_and_partial_fits():
    X = data(16, n=60, m=40)
    model = fit(X, n_components=4, max_iter=200)
    rows = X[[1, 2, 3]]
    W = model.transform(rows)
    ids, scores = model.recommend(np.array([1, 2, 3]), rows, N=6, recalculate_user=True)
    for r in range(3):
        expected = W[r] @ model.components_
        expected[rows[r].indices] = -np.inf
        order = np.argsort(-expected, kind="stable")[:6]
        assert set(ids[r]) == set(order)
        assert np.allclose(scores[r], expected[ids[r]], rtol=1e-5)
    grown = model.partial_fit_users([60], X[[5]])
    assert grown.user_factors.shape == (61, 4)
    assert np.allclose(grown.user_factors[60], model.transform(X[[5]])[0])
    item_users = sp.hstack([X.T.tocsr()[[7]], sp.csr_matrix((1, 1))]).tocsr()  # 61 users now
    model.partial_fit_items([40], item_users)
    assert model.item_factors.shape == (41, 4) and model.components_.shape == (4, 41)
    assert np.all(model.item_factors >= 0)
    with pytest.raises(ValueError, match="negative"):
        model.recommend(0, sp.csr_matrix(-np.ones((1, 41))), recalculate_user=True)


@pytest.mark.filterwarnings("ignore::mfkit.ConvergenceWarning")
def test_loaded_model_keeps_its_options_and_sklearn_attributes(tmp_path):
    X = data(17)
    for config in (dict(solver="cd"), dict(solver="mu", beta_loss="kullback-leibler",
                                              missing="ignore", alpha_W=0.01, alpha_H=0.0)):
        model = fit(X, n_components=4, max_iter=50, **config)
        path = tmp_path / "nmf.npz"
        model.save(path)
        loaded = mfkit.load(path)
        assert np.array_equal(loaded.components_, model.components_)
        assert loaded.n_iter_ == model.n_iter_ and isinstance(loaded.n_iter_, int)
        assert loaded.reconstruction_err_ == model.reconstruction_err_
        rows = X[[0, 8, 9]]
        assert np.array_equal(loaded.transform(rows), model.transform(rows))
        # recalculation follows the loaded solver, loss and missing-value options
        expected = model.recommend(np.array([0, 8, 9]), rows, N=5, recalculate_user=True)
        got = loaded.recommend(np.array([0, 8, 9]), rows, N=5, recalculate_user=True)
        assert np.array_equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
