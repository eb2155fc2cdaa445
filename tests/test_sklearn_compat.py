"""scikit-learn's estimator machinery on mfkit models (mfkit does not depend on scikit-learn):
``check_estimator`` on NMF, ``GridSearchCV`` over ALS with a ranking scorer, a Pipeline and its
HTML repr, and NMF's assignable ``components_``. (Every model's clone, fitted status and tags:
test_contract.py.)
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit.evaluation import ndcg_at_k
from mfkit.splits import leave_k_out_split

sklearn_utils = pytest.importorskip("sklearn.utils")


def counts(seed=0, n_users=50, n_items=30):
    return mfkit.datasets.synthetic(n_users, n_items, 0.15, seed=seed).astype(np.float64)


# ------------------------------------------------------------------------------ check_estimator
# The checks of scikit-learn's that do not apply to mfkit's NMF, and why. mfkit validates input
# for every model in one place (mfkit._validation) with its own messages: the wording checks
# below find a ValueError of mfkit's words where they look for scikit-learn's.
NMF_EXPECTED_FAILED_CHECKS = {
    "check_dont_overwrite_parameters":
        "fit sets the recommender attributes every mfkit model shares (user_factors, "
        "item_factors and the raw-id maps user_ids, item_ids), named as in implicit, not '..._'",
    "check_dict_unchanged":
        "serving calls (transform, recommend) cache derived arrays (HHᵀ, transposed factors) in "
        "the private _cache on first use; the fitted state itself does not change",
    "check_dtype_object":
        "mfkit refuses object arrays (ValueError) instead of converting them to numbers",
    "check_transformer_data_not_an_array":
        "mfkit takes scipy.sparse matrices and numpy arrays (and Interactions), not any object "
        "with __array__; others raise a ValueError saying so",
    "check_complex_data":
        "wording: mfkit's ValueError says 'must hold real numbers'",
    "check_estimators_empty_data_messages":
        "wording: mfkit's ValueError says 'must have at least one row and one column'",
    "check_n_features_in_after_fitting":
        "wording: transform's ValueError says 'X has 1 columns, but the model was fitted on 4 "
        "features'",
    "check_fit2d_predict1d":
        "wording: mfkit's ValueError says 'X must be 2-D (users x items), got 1-D'",
}


@pytest.mark.filterwarnings("ignore::mfkit.ConvergenceWarning")  # its data are not ours
@pytest.mark.filterwarnings("ignore:user_items is in:UserWarning")  # COO, CSC: one copy
def test_check_estimator_on_nmf():
    estimator_checks = pytest.importorskip("sklearn.utils.estimator_checks")
    if "expected_failed_checks" not in inspect.signature(
            estimator_checks.check_estimator).parameters:
        pytest.skip("scikit-learn < 1.6: no expected_failed_checks")
    model = mfkit.NMF(2, max_iter=500, random_state=0, num_threads=1)
    results = estimator_checks.check_estimator(
        model, expected_failed_checks=NMF_EXPECTED_FAILED_CHECKS, on_fail=None)
    status = {result["check_name"]: result["status"] for result in results}
    failed = {name: str(result["exception"]) for result in results
              for name in [result["check_name"]] if result["status"] == "failed"}
    assert not failed
    # Each exclusion is still needed: the check really fails.
    assert {name: status.get(name) for name in NMF_EXPECTED_FAILED_CHECKS} == \
        dict.fromkeys(NMF_EXPECTED_FAILED_CHECKS, "xfail")


# ------------------------------------------------------------------------------- GridSearchCV
def test_grid_search_over_als_with_a_ranking_scorer():
    """The documented protocol: a recommender fits a whole users × items matrix and has no y,
    so the held-out data are interactions. One "fold" whose train and test rows are all rows
    (``cv=[(rows, rows)]``); the scorer receives the training matrix (whose items it filters
    out) and closes over the held-out interactions."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    train, test = leave_k_out_split(counts(n_users=120, n_items=60), K=2, random_state=0)

    def ndcg(model, X, y=None):
        return ndcg_at_k(model, X, test, K=5)

    base = dict(iterations=3, random_state=0, num_threads=1)
    grid = {"factors": [2, 8], "regularization": [0.1, 30.0]}
    rows = np.arange(train.shape[0])
    search = model_selection.GridSearchCV(mfkit.ALS(**base), grid, scoring=ndcg,
                                          cv=[(rows, rows)])
    search.fit(train, show_progress=False)

    by_hand = {(f, r): ndcg(mfkit.ALS(factors=f, regularization=r, **base).fit(
        train, show_progress=False), train)
        for f in grid["factors"] for r in grid["regularization"]}
    best = max(by_hand, key=by_hand.get)
    assert search.best_params_ == {"factors": best[0], "regularization": best[1]}
    assert search.best_score_ == pytest.approx(by_hand[best])
    refit = search.best_estimator_
    assert isinstance(refit, mfkit.ALS) and refit.factors == best[0]
    assert ndcg(refit, train) == pytest.approx(by_hand[best])


# ---------------------------------------------------------------------------------- Pipeline
def test_pipeline_with_nmf_fits_and_renders_html():
    pipeline = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    validation = pytest.importorskip("sklearn.utils.validation")
    X = counts()
    pipe = pipeline.make_pipeline(preprocessing.MaxAbsScaler(),
                                  mfkit.NMF(3, max_iter=50, tol=0, random_state=0))
    html = sklearn_utils.estimator_html_repr(pipe)
    assert "NMF" in html and "n_components=3" in html and "MaxAbsScaler" in html
    W = pipe.fit_transform(X)
    assert W.shape == (X.shape[0], 3)
    validation.check_is_fitted(pipe)
    assert "NMF" in sklearn_utils.estimator_html_repr(pipe)
    alone = mfkit.NMF(3, max_iter=50, tol=0, random_state=0).fit(
        preprocessing.MaxAbsScaler().fit_transform(X))
    assert np.array_equal(W, alone.user_factors)


# ------------------------------------------------------------------------- assigned components_
def test_fitted_components_can_be_reused_by_a_new_model():
    X = counts()
    fitted = mfkit.NMF(4, max_iter=100, random_state=0).fit(X)
    new_rows = counts(seed=1, n_users=7)
    reuse = mfkit.NMF(4, max_iter=100)
    reuse.components_ = fitted.components_
    assert np.array_equal(reuse.components_, fitted.components_)
    assert reuse.user_factors.shape == (0, 4) and reuse.n_features_in_ == X.shape[1]
    assert np.array_equal(reuse.transform(new_rows), fitted.transform(new_rows))
    ids, _ = reuse.recommend(0, new_rows[[0]], recalculate_user=True)
    assert np.array_equal(ids, fitted.recommend(0, new_rows[[0]], recalculate_user=True)[0])


def test_assigning_components_to_a_fitted_model_sets_item_factors():
    X = counts()
    model = mfkit.NMF(4, max_iter=20, tol=0, random_state=0).fit(X)
    H = np.random.default_rng(0).random((4, X.shape[1]))  # float64: stored in float32
    before = model.transform(X[:5])
    model.components_ = H
    assert model.item_factors.dtype == np.float32 and model.item_factors.flags.c_contiguous
    assert np.array_equal(model.item_factors, H.T.astype(np.float32))
    assert np.array_equal(model.components_, H.astype(np.float32))
    assert not np.array_equal(model.transform(X[:5]), before)  # caches follow the new H


@pytest.mark.parametrize("H, match", [
    (np.ones((3, 30)), "shape \\(4, 30\\)"), (np.ones((4, 29)), "shape \\(4, 30\\)"),
    (np.ones(30), "2-D"), (np.ones((4, 30), dtype=complex), "real"),
    (np.full((4, 30), "a"), "real"), (-np.ones((4, 30)), "non-negative"),
    (np.full((4, 30), np.nan), "finite"), (sp.csr_matrix(np.ones((4, 30))), "2-D"),
])
def test_assigned_components_are_validated(H, match):
    model = mfkit.NMF(4, max_iter=5, tol=0, random_state=0).fit(counts())
    factors = model.item_factors
    with pytest.raises(ValueError, match=match):
        model.components_ = H
    assert model.item_factors is factors
    unfitted = mfkit.NMF(4)
    if H.ndim == 2 and H.shape[1] == 29:
        unfitted.components_ = H  # a new model takes any number of features
        return
    with pytest.raises(ValueError, match=match if "shape" not in match else "shape \\(4, "):
        unfitted.components_ = H
    assert getattr(unfitted, "item_factors", None) is None
