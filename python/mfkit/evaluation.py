"""Evaluation: ranking metrics at K (binary relevance) and rating-prediction errors.

Ranking metrics score a fitted model against a held-out ``test`` matrix given the ``train``
matrix it was fitted on (both users × items, the model's shape). For user ``u``:

- ``C_u``  = candidates: every item not in ``train[u]`` (train items are never recommended, so
  never counted as hits);
- ``Te_u`` = relevant items: the items stored in ``test[u]`` that are candidates (a test item
  that is also in ``train[u]`` cannot be ranked and is left out);
- ``L_u``  = the ``K`` best candidates by score ``x_uᵀy_i``, ties by the lower item id;
  ``rel_k = [k-th item of L_u ∈ Te_u]``.

Relevance is binary: every stored entry of ``test`` counts, whatever its value (stored zeros are
dropped first, as everywhere in mfkit). Each metric is computed per user and averaged over the
users with ``Te_u`` non-empty (the others are skipped); ``ranking_metrics`` reports how many.

Names follow the formulas exactly. Note that ``implicit.evaluation.precision_at_k`` is not this
precision: it is ``Σ_u |L∩Te| / Σ_u min(K, |Te|)``, a pooled recall-like ratio with denominator
``min(K, |Te|)``; and its AUC is computed on the top-K list only, where ours ranks all
candidates.
"""
from __future__ import annotations

import re
import time

import numpy as np
import scipy.sparse as sp

from ._csr import csr_arrays
from ._interactions import unwrap_interactions
from ._ranking import score_blocks
from ._threads import resolve_num_threads
from ._validation import check_int, check_random_state, check_ratings, check_user_items
from .splits import (
    leave_k_out_split,
    time_split,
    train_test_split,
    train_valid_test_split,
    validation_split,
)

# Column order of the per-user kernel output (mfkit/metrics.hpp) and keys of ranking_metrics.
METRICS = ("precision", "recall", "map", "ndcg", "hit_rate", "mrr", "auc")
# The metrics at a cut-off K, named "name@K" by tuning and callbacks (AUC has no K).
RANKING_METRICS = ("ndcg", "recall", "precision", "map", "hit_rate", "mrr")

__all__ = [
    "METRICS", "auc", "cross_validate", "hit_rate_at_k", "leave_k_out_split", "mae", "map_at_k",
    "mrr_at_k",
    "ndcg_at_k", "parse_metric", "precision_at_k", "ranking_metrics", "recall_at_k", "rmse",
    "time_split", "train_test_split", "train_valid_test_split", "validation_split",
]


# ---------------------------------------------------------------------- shared implementation
def _model_factors(model):
    """The fitted factors of ``model`` in one float dtype, checked for shape and finiteness."""
    if not callable(getattr(model, "_check_fitted", None)):
        raise TypeError(f"model must be an mfkit model (e.g. mfkit.ALS), got "
                        f"{type(model).__name__}")
    model._check_fitted()
    user_factors = np.asarray(model._ranking_users(model.user_factors))
    item_factors = np.asarray(model._ranking_items())
    if user_factors.ndim != 2 or item_factors.ndim != 2 or \
            user_factors.shape[1] != item_factors.shape[1]:
        raise ValueError(f"model factors must be 2-D with the same number of columns, got "
                         f"user_factors {user_factors.shape} and item_factors {item_factors.shape}")
    dtype = np.result_type(user_factors, item_factors)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    for name, factors in (("user_factors", user_factors), ("item_factors", item_factors)):
        if not np.all(np.isfinite(factors)):
            raise ValueError(f"model.{name} contains NaN or infinite values")
    return user_factors.astype(dtype, copy=False), item_factors.astype(dtype, copy=False)


def _interactions(matrix, name: str, shape: tuple, dtype):
    """``matrix`` (or an Interactions' matrix) as canonical CSR of the model's shape."""
    matrix = check_user_items(unwrap_interactions(matrix)[0], dtype, name=name)
    if matrix.shape != shape:
        what = "users" if matrix.shape[0] != shape[0] else "items"
        raise ValueError(f"{name} must have the model's shape (users x items) {shape}, got "
                         f"{matrix.shape}: the number of {what} differs")
    return matrix


def _threads(model, num_threads) -> int:
    if num_threads is None:
        return model._threads()
    return resolve_num_threads(check_int(num_threads, "num_threads", 0))


def _per_user_metrics(model, train, test, K, num_threads) -> np.ndarray:
    """Metrics of every evaluated user: float64 array (users, 7), columns as ``METRICS``.

    Scores come per block of users from :func:`mfkit._ranking.score_blocks` (bounded memory),
    then the backend's kernel ranks the block's users in parallel.
    """
    user_factors, item_factors = _model_factors(model)
    K = check_int(K, "K", 1)
    shape = (len(user_factors), len(item_factors))
    train = _interactions(train, "train", shape, user_factors.dtype)
    test = _interactions(test, "test", shape, user_factors.dtype)
    backend, threads = model._backend(), _threads(model, num_threads)
    users = np.flatnonzero(np.diff(test.indptr))  # users with at least one test item
    parts = []
    for start, stop, scores in score_blocks(user_factors[users], item_factors):
        rows = users[start:stop]
        parts.append(backend.ranking_metrics_block(scores, csr_arrays(train[rows]),
                                                   csr_arrays(test[rows]), K,
                                                   num_threads=threads))
    per_user = np.concatenate(parts) if parts else np.zeros((0, len(METRICS)))
    per_user = per_user[~np.isnan(per_user[:, 0])]  # test items all in train: nothing relevant
    if len(per_user) == 0:
        raise ValueError("test has no user with a test item outside train: nothing to evaluate")
    return per_user


# ---------------------------------------------------------------------- ranking metrics
def parse_metric(metric: str) -> tuple:
    """``"ndcg@20"`` -> ``("ndcg", 20)``: a key of :func:`ranking_metrics` and its ``K``;
    ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*([a-z_]+)\s*@\s*(\d+)\s*", metric.lower()) \
        if isinstance(metric, str) else None
    if match is None or match.group(1) not in RANKING_METRICS or int(match.group(2)) < 1:
        raise ValueError(f"metric must be NAME@K with NAME one of {', '.join(RANKING_METRICS)} "
                         f"and K >= 1 (e.g. 'ndcg@20'), got {metric!r}")
    return match.group(1), int(match.group(2))


def ranking_metrics(model, train, test, K=10, num_threads=None) -> dict:
    """All ranking metrics at ``K`` in one pass, averaged over the evaluated users.

    Per user (notation in the module docstring), then the mean over users with ``Te_u``
    non-empty:

    - ``precision`` = |L∩Te| / K  (denominator K even when fewer than K candidates exist)
    - ``recall``    = |L∩Te| / |Te|
    - ``map``       = AP@K = Σ_{k=1..K} P@k · rel_k / min(K, |Te|),  P@k = |L_1..k ∩ Te| / k
    - ``ndcg``      = DCG / IDCG,  DCG = Σ_{k=1..K} rel_k / log2(k+1),
      IDCG = Σ_{k=1..min(K,|Te|)} 1 / log2(k+1)
    - ``hit_rate``  = [|L∩Te| > 0]
    - ``mrr``       = 1 / rank of the first relevant item in L (0 if none)
    - ``auc``       = (#{s_i > s_j} + ½ #{s_i = s_j}) / (|Te| · |C \\ Te|) over relevant ``i``
      and non-relevant candidates ``j``: all candidates, not truncated at K. Averaged over the
      evaluated users that have a non-relevant candidate (NaN if none has).

    Parameters
    ----------
    model : fitted mfkit model
        Scores are ``user_factors @ item_factors.T``; ``backend="reference"`` evaluates with the
        numpy twin of the C++ kernel.
    train, test : sparse matrix, 2-D array or Interactions (e.g. from a split), users × items
        The model's shape. Stored entries of ``train`` are excluded from the ranking; stored
        entries of ``test`` are the relevant items.
    K : int, default 10
        Length of the ranked list (>= 1).
    num_threads : int, optional
        Threads of the C++ kernel; default the model's ``num_threads`` (0 = all cores). Results
        do not depend on it.

    Returns
    -------
    dict
        ``precision, recall, map, ndcg, hit_rate, mrr, auc`` (floats) and ``users``, the number
        of users evaluated.
    """
    per_user = _per_user_metrics(model, train, test, K, num_threads)
    result = {name: float(np.mean(per_user[:, j])) for j, name in enumerate(METRICS)}
    auc_values = per_user[:, METRICS.index("auc")]
    auc_values = auc_values[~np.isnan(auc_values)]
    result["auc"] = float(np.mean(auc_values)) if len(auc_values) else float("nan")
    result["users"] = len(per_user)
    return result


def precision_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Mean over evaluated users of |L∩Te| / K (see :func:`ranking_metrics`).

    Not ``implicit``'s ``precision_at_k``, which divides by min(K, |Te|) and pools over users.
    """
    return ranking_metrics(model, train, test, K, num_threads)["precision"]


def recall_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Mean over evaluated users of |L∩Te| / |Te| (see :func:`ranking_metrics`)."""
    return ranking_metrics(model, train, test, K, num_threads)["recall"]


def map_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Mean average precision: mean over evaluated users of
    AP@K = Σ_{k=1..K} P@k · rel_k / min(K, |Te|) (see :func:`ranking_metrics`)."""
    return ranking_metrics(model, train, test, K, num_threads)["map"]


def ndcg_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Mean over evaluated users of DCG / IDCG with DCG = Σ_{k=1..K} rel_k / log2(k+1) and
    IDCG = Σ_{k=1..min(K,|Te|)} 1 / log2(k+1) (see :func:`ranking_metrics`)."""
    return ranking_metrics(model, train, test, K, num_threads)["ndcg"]


def hit_rate_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Share of evaluated users with at least one relevant item in L: mean of [|L∩Te| > 0]."""
    return ranking_metrics(model, train, test, K, num_threads)["hit_rate"]


def mrr_at_k(model, train, test, K=10, num_threads=None) -> float:
    """Mean reciprocal rank: mean over evaluated users of 1 / rank of the first relevant item
    in L, 0 when L holds none (see :func:`ranking_metrics`)."""
    return ranking_metrics(model, train, test, K, num_threads)["mrr"]


def auc(model, train, test, num_threads=None) -> float:
    """Mean over users of the AUC over all candidates (not truncated at any K):
    (#{s_i > s_j} + ½ #{s_i = s_j}) / (|Te| · |C \\ Te|) for relevant ``i`` and non-relevant
    candidates ``j`` (see :func:`ranking_metrics`)."""
    return ranking_metrics(model, train, test, 1, num_threads)["auc"]


# ---------------------------------------------------------------------- rating errors
def _ratings(y_true, y_pred):
    arrays = []
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        array = np.asarray(values)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or \
                np.iscomplexobj(array):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got {array.ndim}-D")
        if array.size == 0:
            raise ValueError(f"{name} is empty")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays.append(array.astype(np.float64))
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(f"y_true and y_pred must have the same length, got {len(arrays[0])} "
                         f"and {len(arrays[1])}")
    return arrays


def rmse(y_true, y_pred) -> float:
    """Root mean squared error √(Σ_n (y_n − ŷ_n)² / N) of 1-D equal-length finite arrays."""
    y_true, y_pred = _ratings(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    """Mean absolute error Σ_n |y_n − ŷ_n| / N of 1-D equal-length finite arrays."""
    y_true, y_pred = _ratings(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))

# The splits live in their own module; they are part of the evaluation API.


# ---------------------------------------------------------------------- rating cross-validation
def cross_validate(model, ratings, folds=5, random_state=None) -> dict:
    """K-fold cross-validation of a rating-prediction model (e.g. ``mfkit.ExplicitMF``).

    The observed ratings (stored entries of a sparse matrix, stored zeros included; the
    non-zeros of a dense array; or an ``mfkit.datasets.Interactions``) are split at random into
    ``folds`` parts of sizes differing by at most one. For each part, a fresh copy of ``model``
    (same parameters: ``type(model)(**model.get_params())``) is fitted on the other parts
    (users × items of the full shape) and predicts the held-out ratings with
    ``model.predict(users, items, return_known=True)`` (so with its defaults, e.g. clipping
    to the training rating range; unknown users or items get the model's fallback and are
    counted in ``unknown``).

    Parameters
    ----------
    model : mfkit model with ``predict``
        Not modified; its ``random_state`` (if an int) seeds every fold's fit alike.
    ratings : sparse matrix, 2-D array or mfkit.datasets.Interactions
        Users × items ratings (validated as in ``ExplicitMF.fit``).
    folds : int or array of int, default 5
        Number of folds (>= 2), or the fold of every stored rating (1-D, one entry per rating
        in CSR order, values ``0 .. K-1``, every fold non-empty), e.g. the ``fold`` array of a
        previous call, to reuse the same split.
    random_state : None, int or numpy.random.Generator
        Seeds the split (ignored when ``folds`` is an array).

    Returns
    -------
    dict
        ``rmse``, ``mae`` (float64 arrays, one entry per fold, from :func:`rmse` / :func:`mae`),
        ``fit_time``, ``test_time`` (seconds per fold), ``unknown`` (int array: held-out
        pairs with a user or item the fold's model did not know) and ``fold`` (int array:
        the fold of every stored rating, CSR order).
    """
    if not callable(getattr(model, "predict", None)) or not callable(getattr(model, "fit", None)) \
            or not callable(getattr(model, "get_params", None)):
        raise TypeError(f"model must be an mfkit rating model with fit and predict (e.g. "
                        f"mfkit.ExplicitMF), got {type(model).__name__}")
    matrix, _ = unwrap_interactions(ratings)
    matrix = check_ratings(matrix, np.dtype(np.float64))
    nnz = int(matrix.nnz)
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, (bool, np.bool_)):
        count = check_int(folds, "folds", 2)
        if nnz < count:
            raise ValueError(f"ratings has {nnz} ratings, fewer than folds={count}")
        rng = check_random_state(random_state)
        fold = np.empty(nnz, dtype=np.int64)
        fold[rng.permutation(nnz)] = np.arange(nnz) * count // nnz
    else:
        fold = np.asarray(folds)
        if fold.dtype == bool or not np.issubdtype(fold.dtype, np.integer):
            raise TypeError(f"folds must be an int or an array of int fold ids, got "
                            f"{type(folds).__name__} of dtype {fold.dtype}")
        if fold.shape != (nnz,):
            raise ValueError(f"folds must hold one fold id per stored rating ({nnz}), got shape "
                             f"{fold.shape}")
        fold = fold.astype(np.int64)
        count = int(fold.max()) + 1 if nnz else 0
        if nnz == 0 or fold.min() < 0 or count < 2 or \
                np.any(np.bincount(fold, minlength=count) == 0):
            raise ValueError("folds must number the folds 0 .. K-1 (K >= 2), each non-empty")

    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    columns, values = matrix.indices, matrix.data
    params = model.get_params()
    result = {name: np.zeros(count) for name in ("rmse", "mae", "fit_time", "test_time")}
    result["unknown"] = np.zeros(count, dtype=np.int64)
    for f in range(count):
        held_out = fold == f
        kept = ~held_out
        indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[kept], minlength=matrix.shape[0]), out=indptr[1:])
        train = sp.csr_matrix((values[kept], columns[kept], indptr), shape=matrix.shape)
        fold_model = type(model)(**params)
        start = time.perf_counter()
        fold_model.fit(train, show_progress=False)
        result["fit_time"][f] = time.perf_counter() - start
        start = time.perf_counter()
        predicted, known = fold_model.predict(rows[held_out], columns[held_out],
                                              return_known=True)
        result["test_time"][f] = time.perf_counter() - start
        result["rmse"][f] = rmse(values[held_out], predicted)
        result["mae"][f] = mae(values[held_out], predicted)
        result["unknown"][f] = int(np.count_nonzero(~np.asarray(known)))
    result["fold"] = fold
    return result
