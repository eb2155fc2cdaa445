"""mfkit.NMF against scikit-learn's NMF (a test dependency): same objective, same iterates.

- ``solver="mu"`` from the same custom W and H gives scikit-learn's W and H after the same number
  of iterations (float64, <= 1e-6 relative), for both losses and with penalties, and stops at the
  same iteration under the same ``tol``;
- ``solver="cd"`` reaches a final objective within 1e-3 relative of scikit-learn's on several
  random sparse matrices, from each library's own default initialization;
- ``transform`` of new rows with the same H reaches an objective no higher than scikit-learn's
  ``transform`` (``non_negative_factorization(..., update_H=False)``).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import NMF as SkNMF
from sklearn.decomposition import non_negative_factorization
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

import mfkit


def rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def sparse_data(seed, n=70, m=45, density=0.15):
    """A seeded non-negative sparse matrix with non-integer values and an empty row."""
    X = sp.random(n, m, density=density, random_state=seed, format="csr",
                  data_rvs=lambda size: np.random.default_rng(seed).uniform(0.2, 5.0, size))
    X = X.tolil()
    X[3, :] = 0
    return X.tocsr()


def start(seed, n, m, k):
    rng = np.random.default_rng(seed + 100)
    return rng.uniform(0.05, 1.0, (n, k)), rng.uniform(0.05, 1.0, (k, m))


def objective(X, W, H, alpha_W=0.0, alpha_H="same", l1_ratio=0.0, beta_loss="frobenius"):
    """scikit-learn's NMF objective, computed densely (small matrices only)."""
    alpha_H = alpha_W if alpha_H == "same" else alpha_H
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    n, m = X.shape
    WH = W @ H
    if beta_loss == "frobenius":
        data = 0.5 * np.sum((X - WH) ** 2)
    else:
        eps = np.finfo(np.float32).eps
        keep = X > eps
        data = np.sum(X[keep] * np.log(X[keep] / np.maximum(WH[keep], eps))) - X[keep].sum() \
            + WH.sum()
    penalty = (alpha_W * m * (l1_ratio * W.sum() + 0.5 * (1 - l1_ratio) * np.sum(W * W))
               + alpha_H * n * (l1_ratio * H.sum() + 0.5 * (1 - l1_ratio) * np.sum(H * H)))
    return data + penalty


PENALTIES = [
    dict(),
    dict(alpha_W=0.002, l1_ratio=0.5),
    dict(alpha_W=0.001, alpha_H=0.004, l1_ratio=0.0),
    dict(alpha_W=0.003, alpha_H=0.0, l1_ratio=1.0),
]


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("penalty", PENALTIES, ids=["none", "mixed", "l2", "l1"])
@pytest.mark.parametrize("dense", [False, True], ids=["sparse", "dense"])
def test_mu_gives_sklearn_iterates(beta_loss, penalty, dense):
    X = sparse_data(0)
    W0, H0 = start(0, *X.shape, 5)
    data = X.toarray() if dense else X
    ours = mfkit.NMF(5, solver="mu", beta_loss=beta_loss, init="custom", max_iter=40, tol=0,
                     dtype=np.float64, **penalty)
    W = ours.fit_transform(data, W=W0, H=H0, show_progress=False)
    theirs = SkNMF(5, solver="mu", beta_loss=beta_loss, init="custom", max_iter=40, tol=0,
                   **penalty)
    W_sk = theirs.fit_transform(data, W=W0.copy(), H=H0.copy())
    assert rel(W, W_sk) <= 1e-6
    assert rel(ours.components_, theirs.components_) <= 1e-6
    assert ours.n_iter_ == theirs.n_iter_ == 40
    assert ours.reconstruction_err_ == pytest.approx(theirs.reconstruction_err_, rel=1e-9)


@pytest.mark.parametrize("beta_loss", ["frobenius", "kullback-leibler"])
@pytest.mark.parametrize("tol", [1e-2, 1e-3])
def test_mu_stops_where_sklearn_stops(beta_loss, tol):
    X = sparse_data(1)
    W0, H0 = start(1, *X.shape, 4)
    ours = mfkit.NMF(4, solver="mu", beta_loss=beta_loss, init="custom", max_iter=300, tol=tol,
                     dtype=np.float64).fit(X, W=W0, H=H0, show_progress=False)
    theirs = SkNMF(4, solver="mu", beta_loss=beta_loss, init="custom", max_iter=300,
                   tol=tol).fit(X, W=W0.copy(), H=H0.copy())
    assert 10 <= ours.n_iter_ < 300
    assert ours.n_iter_ == theirs.n_iter_
    assert rel(ours.components_, theirs.components_) <= 1e-6


def test_cd_gives_sklearn_iterates_from_the_same_start():
    X = sparse_data(2)
    W0, H0 = start(2, *X.shape, 6)
    ours = mfkit.NMF(6, solver="cd", init="custom", max_iter=25, tol=0, dtype=np.float64,
                     alpha_W=0.001, l1_ratio=0.3)
    W = ours.fit_transform(X, W=W0, H=H0, show_progress=False)
    theirs = SkNMF(6, solver="cd", init="custom", max_iter=25, tol=0, alpha_W=0.001,
                   l1_ratio=0.3)
    W_sk = theirs.fit_transform(X, W=W0.copy(), H=H0.copy())
    assert rel(W, W_sk) <= 1e-6
    assert rel(ours.components_, theirs.components_) <= 1e-6


@pytest.mark.parametrize("seed", [3, 4, 5])
@pytest.mark.parametrize("penalty", PENALTIES[:2], ids=["none", "mixed"])
def test_cd_final_objective_matches_sklearn(seed, penalty):
    X = sparse_data(seed, n=90, m=60, density=0.12)
    ours = mfkit.NMF(6, solver="cd", max_iter=400, tol=1e-5, dtype=np.float64, random_state=0,
                     **penalty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        W = ours.fit_transform(X, show_progress=False)
    theirs = SkNMF(6, solver="cd", max_iter=400, tol=1e-5, random_state=0, **penalty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        W_sk = theirs.fit_transform(X)
    f_ours = objective(X, W, ours.components_, **penalty)
    f_sk = objective(X, W_sk, theirs.components_, **penalty)
    assert abs(f_ours - f_sk) <= 1e-3 * f_sk
    assert ours.loss(X) == pytest.approx(f_ours, rel=1e-9)


def test_nndsvd_initialization_matches_sklearn():
    """Both libraries' NNDSVD(a) come from a randomized SVD; on data with a clear spectrum
    the starting points, hence one mu step later the factors, agree closely."""
    X = mfkit.datasets.synthetic(400, 150, 0.05, seed=0).astype(np.float64)
    for init in ("nndsvd", "nndsvda"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = mfkit.NMF(5, solver="mu", init=init, max_iter=1, tol=0, dtype=np.float64,
                             random_state=0).fit(X, show_progress=False)
            theirs = SkNMF(5, solver="mu", init=init, max_iter=1, tol=0, random_state=0).fit(X)
        assert rel(ours.components_, theirs.components_) <= 1e-4


@pytest.mark.parametrize("solver,beta_loss", [("cd", "frobenius"), ("mu", "frobenius"),
                                              ("mu", "kullback-leibler")])
@pytest.mark.parametrize("penalty", PENALTIES[:2], ids=["none", "mixed"])
def test_transform_objective_no_higher_than_sklearn(solver, beta_loss, penalty):
    X = sparse_data(6, n=80, m=40)
    model = mfkit.NMF(5, solver=solver, beta_loss=beta_loss, max_iter=300, dtype=np.float64,
                      random_state=0, **penalty)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        model.fit(X, show_progress=False)
        new = sparse_data(7, n=25, m=40, density=0.3)
        W = model.transform(new)
    sk_penalty = {key: value for key, value in penalty.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        W_sk, _, _ = non_negative_factorization(
            new, H=model.components_.copy(), n_components=5, update_H=False, solver=solver,
            beta_loss=beta_loss, max_iter=300, **sk_penalty)
    assert W.shape == (25, 5) and np.all(W >= 0)
    ours = model.loss(new, W)
    theirs = model.loss(new, W_sk)
    assert ours <= theirs * (1 + 1e-6)
    if beta_loss == "kullback-leibler" and penalty.get("l1_ratio", 0) > 0:
        # scikit-learn 1.x adds the L1 penalty in place into its cached Σ_j h_j during a KL
        # transform, so its denominator grows by l1 every iteration; mfkit does not.
        assert ours < theirs
    else:
        assert rel(W, W_sk) <= 1e-5  # same algorithm, same stopping rule


def test_fold_in_is_transform_and_recommend_uses_it():
    X = sparse_data(8, n=60, m=30)
    model = mfkit.NMF(4, dtype=np.float64, random_state=0, max_iter=500).fit(
        X, show_progress=False)
    rows = X[[5, 9, 11]]
    theirs, _, _ = non_negative_factorization(rows, H=model.components_.copy(), n_components=4,
                                              update_H=False, solver="cd", max_iter=500)
    assert rel(model.transform(rows), theirs) <= 1e-6
    ids, scores = model.recommend(np.array([100, 101, 102]), rows, N=5, recalculate_user=True,
                                  filter_already_liked_items=False)
    expected = theirs @ model.components_
    for row in range(3):
        assert np.allclose(scores[row], np.sort(expected[row])[::-1][:5], rtol=1e-6)
