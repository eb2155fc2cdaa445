"""Bayesian Personalized Ranking (Rendle, Freudenthaler, Gantner & Schmidt-Thieme, UAI 2009)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .._base import Recommender, Step, get_backend
from .._containers import CsrArrays
from .._init_factors import normal_factors
from .._params import BACKEND, THREADS, Boolean, DType, Integer, Options, RandomState, Real
from .._threads import resolve_num_threads
from .._typing import Callback, Data
from .._validation import C_INT_MAX, check_user_items


def positive_entries(matrix) -> CsrArrays:
    """The stored entries with a value > 0 of a canonical CSR matrix, as the BPR kernels read
    them (int64 row pointers, int32 sorted column indices; values are not used)."""
    indptr = np.asarray(matrix.indptr, dtype=np.int64)
    nnz = int(indptr[-1])
    indices = np.asarray(matrix.indices[:nnz], dtype=np.int32)
    data = matrix.data[:nnz]
    keep = data > 0
    if not keep.all():
        rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(indptr))
        counts = np.bincount(rows[keep], minlength=matrix.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        indices, data = indices[keep], data[keep]
    return CsrArrays(indptr=np.ascontiguousarray(indptr), indices=np.ascontiguousarray(indices),
                     data=np.ascontiguousarray(data), shape=matrix.shape)


def aligned_empty(shape, dtype, alignment: int = 64) -> np.ndarray:
    """A C-contiguous array whose data starts on a cache-line boundary: factor rows of 64 floats
    then span 4 cache lines instead of 5, which the memory-bound SGD steps notice (~7%)."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    buffer = np.empty(count * dtype.itemsize + alignment, dtype=np.uint8)
    offset = (-buffer.ctypes.data) % alignment
    return buffer[offset:offset + count * dtype.itemsize].view(dtype).reshape(shape)


class BPR(Recommender):
    """Bayesian Personalized Ranking: matrix factorization trained to rank each user's items
    above the items they do not have.

    The score of item ``i`` for user ``u`` is ``x_u·y_i + b_i`` (an item bias ``b_i``). For a
    user ``u``, a positive ``i`` (an item of the user) and a negative ``j`` (an item not in the
    user's row), ``x_uij = x_u·(y_i − y_j) + b_i − b_j``, and LearnBPR (Rendle et al. 2009,
    Fig. 4) maximizes ``Σ ln σ(x_uij) − (λ/2)‖Θ‖²`` by stochastic gradient ascent on sampled
    triples. With ``g = σ(−x_uij)`` one step is::

        x_u ← x_u + η (g (y_i − y_j) − λ x_u)
        y_i ← y_i + η (g x_u − λ y_i)          b_i ← b_i + η (g − λ b_i)
        y_j ← y_j + η (−g x_u − λ y_j)         b_j ← b_j + η (−g − λ b_j)

    Every epoch draws as many triples as there are positives: the positive pair uniformly from
    the stored entries (so users in proportion to their activity, as in the paper), the
    negative as ``negative_sampling`` says. Stored values > 0 are the positives; their size is
    not used. Stored values < 0 (dislikes) are never positives and may be drawn as negatives.

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors ``k`` (the item bias comes on top).
    learning_rate : float, default 0.05
        ``η`` above (> 0, and ``learning_rate · regularization < 1``).
    regularization : float, default 0.005
        ``λ`` above (>= 0), applied to the factors and biases each step touches.
    iterations : int, default 200
        Epochs.

        The defaults were chosen on MovieLens latest-small (ratings >= 4 as positives, seeded
        leave-5-out, nDCG@10 averaged over 3 splits, factors 64, uniform negatives) on the grid
        learning_rate {0.01, 0.02, 0.05, 0.1} × regularization {0.002, 0.005, 0.01} × epochs
        {50, 100, 200, 400}: nDCG@10 rises with the epochs (0.131 at 100, 0.141 at 200, 0.149 at
        400; ``implicit``'s best on the same grid is 0.139), and on the synthetic data of
        ``mfkit.datasets.synthetic`` (400k positives) it peaks around 200 epochs, hence 200.
        Popularity negatives converge much faster (best at about 50 epochs with
        learning_rate 0.01). See ``benchmarks/bench_bpr.py``. Tune them for your data.
    verify_negative_samples : bool, default True
        Reject a negative the user has (binary search in the user's sorted row) and draw again,
        up to 32 candidates. If all 32 are rejected, uniform sampling then draws the negative
        exactly from the items the user does not have (a sample is skipped only for a user who
        has every item); popularity sampling skips the sample. Both counts are reported to the
        callback. ``False`` takes the first candidate, even an item the user has.
    negative_sampling : {"uniform", "popularity"}, default "uniform"
        ``"uniform"``: negatives uniform over the catalogue (the paper). ``"popularity"``:
        proportional to each item's number of positives (the item of a uniformly drawn stored
        entry; what ``implicit`` does).
    dtype : np.float32 or np.float64, default np.float32
        Precision of the factors and of all arithmetic.
    random_state : None, int or numpy.random.Generator
        Seeds the initial factors (Gaussian, std 0.1/√k, biases 0) and one 64-bit seed per epoch
        for the C++ sampler, all drawn from one numpy Generator.
    num_threads : int, default 0
        Threads (0: all cores, or ``OMP_NUM_THREADS``). Each epoch's samples are split into
        ``num_threads`` chunks, each with its own seeded generators, run in parallel without
        locks (Hogwild, Niu et al. 2011). With ``num_threads=1`` the same ``random_state`` gives
        bitwise identical factors on every run; with more threads the concurrent updates
        interleave differently from run to run (results vary a little; the quality does not).
    backend : {"cpp", "reference"}, default "cpp"
        ``"reference"`` runs the pure-numpy twin, drawing the very same triples (slow; for
        checking).

    Attributes
    ----------
    user_factors : ndarray (n_users, factors)
        Users without any positive get zeros (their ranking is by the item bias alone).
    item_factors : ndarray (n_items, factors)
    item_bias : ndarray (n_items,)
    item_popularity : ndarray of int64 (n_items,)
        Positives per item in the training data (used by popularity sampling, also in fold-in).
        With ``negative_sampling="popularity"`` an item without positives is never sampled: its
        factors are set to zero and its bias to the lowest learned bias, so it ranks last.

    Notes
    -----
    Divergence: a learning rate too large for the data makes the factors grow until scores
    overflow. The kernels check every score, and the factors and biases are checked after
    every epoch (and after every fold-in); the first non-finite one stops the fit with
    :class:`mfkit.NumericalError` naming the epoch ("lower learning_rate") instead of
    returning NaN factors. The stored values are not used, only their sign, so their
    magnitude has no limit.
    """

    _fitted_arrays = ("user_factors", "item_factors", "item_bias", "item_popularity")
    _parameter_constraints = {
        "factors": Integer(1),
        "learning_rate": Real(0.0, strict=True),
        "regularization": Real(0.0),
        "iterations": Integer(1),
        "verify_negative_samples": Boolean(),
        "negative_sampling": Options("uniform", "popularity"),
        "dtype": DType(),
        "random_state": RandomState(),
        "num_threads": THREADS,
        "backend": BACKEND,
    }

    # Default search space of mfkit.tuning (param -> ("log" | "float" | "int" | "int_log", low,
    # high) or ("categorical", [choices])); iterations are epochs.
    _search_space = {"factors": ("int_log", 16, 256), "learning_rate": ("log", 1e-3, 0.2),
                     "regularization": ("log", 1e-5, 0.1), "iterations": ("int_log", 20, 400)}

    def __init__(self, factors=64, learning_rate=0.05, regularization=0.005, iterations=200,
                 verify_negative_samples=True, negative_sampling="uniform", dtype=np.float32,
                 random_state=None, num_threads=0, backend="cpp"):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.verify_negative_samples = verify_negative_samples
        self.negative_sampling = negative_sampling
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend

    def _check_params(self, params):
        learning_rate, regularization = params["learning_rate"], params["regularization"]
        if not learning_rate * regularization < 1:
            raise ValueError(
                f"learning_rate * regularization must be < 1 (each step shrinks the factors by "
                f"that fraction), got learning_rate={learning_rate}, "
                f"regularization={regularization}")

    def _initial_factors(self, rng: np.random.Generator, rows: int, factors: int, dtype):
        """Small Gaussian factors, std 0.1/√k (as ALS), in a 64-byte aligned array."""
        return normal_factors(rng, 0.1 / np.sqrt(factors), aligned_empty((rows, factors), dtype))

    @staticmethod
    def _sgd_options(params) -> dict:
        return dict(learning_rate=params["learning_rate"],
                    regularization=params["regularization"],
                    negative_sampling=params["negative_sampling"],
                    verify_negative_samples=params["verify_negative_samples"],
                    num_threads=resolve_num_threads(params["num_threads"]))

    def fit(self, user_items: Data, callback: Callback | None = None,
            show_progress: bool = True) -> BPR:
        """Train on ``user_items`` (users × items; stored values > 0 are the positives).

        Parameters
        ----------
        user_items : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            As :meth:`mfkit.ALS.fit`: CSR is used as is, other formats are converted once (a
            warning says so for sparse ones); duplicates are summed and stored zeros dropped on
            a copy; the argument is never modified. An ``Interactions`` also leaves its raw id
            maps on the model.
        callback : callable, optional
            Called as ``callback(epoch, elapsed_seconds, info)`` after every epoch, with the
            0-based epoch, the seconds the epoch took and a dict: ``"auc"``, the running
            training-AUC estimate (share of the epoch's sampled triples already ranked right,
            ``x_uij > 0``, before their step; ties count half), ``"rejected"``, the share of
            drawn negative candidates rejected because the user has them, and ``"skipped"``,
            the number of samples left without a negative.
        show_progress : bool, default True
            Show a progress bar (unless off globally: ``mfkit.set_config``) with the AUC estimate.

        Returns
        -------
        self

        Raises
        ------
        mfkit.NumericalError
            The factors diverged (learning rate too large): see the class notes.
        """
        return super().fit(user_items, callback, show_progress)

    def _prepare(self, user_items, params, rng):
        dtype, k = params["dtype"], params["factors"]
        matrix = check_user_items(user_items, dtype)
        n_users, n_items = matrix.shape
        if n_users > C_INT_MAX:
            raise ValueError(f"user_items has too many rows ({n_users}); at most 2**31 - 1")
        positives = positive_entries(matrix)
        backend = get_backend(params["backend"])
        user_factors = self._initial_factors(rng, n_users, k, dtype)
        item_factors = self._initial_factors(rng, n_items, k, dtype)
        return SimpleNamespace(
            positives=positives, index=backend.bpr_index(positives), backend=backend,
            popularity=np.bincount(positives.indices, minlength=n_items).astype(np.int64),
            user_factors=user_factors, item_factors=item_factors,
            item_bias=np.zeros(n_items, dtype=dtype),
            seeds=rng.integers(0, 2**63, size=params["iterations"], dtype=np.int64),
            options=self._sgd_options(params), params=params, stats=None)

    def _iterate(self, state, iteration):
        state.stats = state.backend.bpr_epoch(
            state.positives, state.index, state.user_factors, state.item_factors, state.item_bias,
            seed=int(state.seeds[iteration]), **state.options)

    def _after_iteration(self, state, iteration):
        if not state.stats["finite"]:  # the kernel saw a score overflow
            raise self._not_finite("the scores are", f"in iteration {iteration}", state.params,
                                   0.0)
        info = self._epoch_info(state.stats)
        return Step(info, {"auc": info["auc"]})

    def _finish(self, state, iterations):
        user_factors, item_factors, item_bias = state.user_factors, state.item_factors, \
            state.item_bias
        user_factors[np.diff(state.positives.indptr) == 0] = 0
        popularity = state.popularity
        if state.params["negative_sampling"] == "popularity":
            unseen = popularity == 0
            if unseen.any():
                item_factors[unseen] = 0
                item_bias[unseen] = item_bias[~unseen].min() if (~unseen).any() else 0
        return dict(user_factors=user_factors, item_factors=item_factors, item_bias=item_bias,
                    item_popularity=popularity)

    @staticmethod
    def _epoch_info(stats) -> dict:
        updates, draws = stats["updates"], stats["draws"]
        return {
            "auc": stats["ranked"] / (2 * updates) if updates else float("nan"),
            "rejected": stats["rejected"] / draws if draws else 0.0,
            "skipped": int(stats["skipped"]),
        }

    def _finite_state(self, state):
        arrays = dict(user_factors=state.user_factors, item_factors=state.item_factors,
                      item_bias=state.item_bias)
        return arrays, 0.0  # the values are not used, only their sign

    def _remedy(self, params, largest):
        return (f"the SGD diverged: lower learning_rate (now {params['learning_rate']}) or "
                f"raise regularization (now {params['regularization']})")

    # ------------------------------------------------------------------ serving hooks
    def _fold_in_seed(self) -> int:
        """Fold-in is deterministic: seeded by ``random_state`` when it is an int, else by 0."""
        state = self.random_state
        if isinstance(state, (int, np.integer)) and not isinstance(state, (bool, np.bool_)):
            return int(state) % 2**64
        return 0

    def _fold_in_users(self, user_items) -> np.ndarray:
        """User factors from their rows alone: ``iterations`` SGD epochs on ``x_u`` with the item
        factors and biases fixed, from ``x_u = 0`` (each epoch as many triples as the row has
        positives, negatives sampled as in training). Deterministic: a row's result depends only
        on the row, the fitted items and ``random_state`` (not on the other rows requested)."""
        params = self._settings()
        rows = positive_entries(user_items)
        solved = np.zeros((rows.shape[0], self.item_factors.shape[1]),
                          dtype=self.item_factors.dtype)
        cumulative = np.cumsum(np.asarray(self.item_popularity, dtype=np.int64))
        stats = self._backend().bpr_fold_in(
            rows, self.item_factors, np.ascontiguousarray(self.item_bias, dtype=solved.dtype),
            cumulative, solved, epochs=params["iterations"], seed=self._fold_in_seed(),
            **self._sgd_options(params))
        if not stats["finite"]:  # non-finite factors are caught by the caller
            raise self._not_finite("the scores are", "while folding in users", params, 0.0)
        return solved

    def _ranking_users(self, user_factors: np.ndarray) -> np.ndarray:
        """``[x_u, 1]``: with :meth:`_ranking_items` the dot product is ``x_u·y_i + b_i``."""
        ones = np.ones((len(user_factors), 1), dtype=user_factors.dtype)
        return np.hstack([user_factors, ones])

    def _ranking_items(self) -> np.ndarray:
        """``[y_i, b_i]`` (cached until a new factor or bias array is assigned)."""
        cache = self.__dict__.setdefault("_cache", {})
        entry = cache.get("bpr_targets")
        if entry is None or entry[0] is not self.item_factors or entry[1] is not self.item_bias:
            bias = np.asarray(self.item_bias, dtype=self.item_factors.dtype)
            targets = np.hstack([self.item_factors, bias[:, None]])
            entry = cache["bpr_targets"] = (self.item_factors, self.item_bias, targets)
        return entry[2]
