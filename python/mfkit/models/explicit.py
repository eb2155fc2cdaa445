"""Explicit-feedback matrix factorization: biased SGD (Funk; Koren, Bell & Volinsky 2009) and
ALS-WR (Zhou et al. 2008), for star ratings where a missing value means "unknown"."""
from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._base import Recommender, Step, get_backend
from .._containers import CsrArrays, RatingBlocks
from .._csr import csr_arrays, transposed
from .._exact_sum import exact_mean
from .._init_factors import normal_factors
from .._params import BACKEND, THREADS, Boolean, DType, Integer, Options, RandomState, Real
from .._threads import resolve_num_threads
from .._typing import Callback, Data, Ids, Ranked, Rows
from .._validation import check_bool, check_ids, check_magnitude, check_ratings
from ..exceptions import NumericalError

# Stratified parallel SGD: users and items are each split into `grid` blocks, with
# grid = min(SGD_GRID, ⌊√(nnz / SGD_BLOCK_RATINGS)⌋, n_users, n_items) and at least 1, so that a
# block holds about SGD_BLOCK_RATINGS ratings or more (enough work to repay a barrier) and up to
# SGD_GRID threads can work at once. It depends on the data only, never on the thread count.
# With random group membership the grid does not change the quality (MovieLens 5-fold test
# RMSE over 8 seeds: 0.87370 for a 1 x 1 grid, i.e. plain shuffled SGD, and 0.8737 for Surprise).
SGD_GRID = 32
SGD_BLOCK_RATINGS = 2048

# Pairs per chunk in predict (bounds the temporary (pairs, factors) arrays).
_PREDICT_CHUNK = 1 << 16


def _balanced_blocks(counts: np.ndarray, grid: int, rng: np.random.Generator):
    """``(order, blocks)``: the rows in a random ``order``, cut into ``grid`` consecutive runs of
    about equal rating mass; ``blocks[j]`` (int32, non-decreasing) is the block of row
    ``order[j]``. Random membership matters: blocks of consecutive ids would pair, e.g., old
    users with old movies in every stratum, a systematic order that costs accuracy (+0.0013
    RMSE on MovieLens); relabelling the rows by ``order`` then keeps each block contiguous in
    memory (no false sharing between threads)."""
    order = rng.permutation(len(counts))
    mass = counts[order].astype(np.float64)
    total = mass.sum()
    if total > 0:
        middle = np.cumsum(mass) - mass / 2  # ratings before the row's midpoint
        position = np.floor(middle * grid / total)
    else:
        position = np.floor(np.arange(len(counts)) * grid / max(len(counts), 1))
    return order, np.clip(position, 0, grid - 1).astype(np.int32)


class _SgdLayout(NamedTuple):
    """The SGD's internal labelling: internal user ``j`` is user ``user_order[j]``."""

    blocks: RatingBlocks
    user_order: np.ndarray
    item_order: np.ndarray
    ratings: CsrArrays  # the ratings in internal labels (for the loss)


class ExplicitMF(Recommender):
    """Matrix factorization of explicit ratings (stars), fitted on the observed ratings only.

    Predicts (Koren, Bell & Volinsky, "Matrix factorization techniques for recommender
    systems", IEEE Computer 2009, eq. 4)::

        r̂_ui = μ + b_u + b_i + p_uᵀ q_i          (biased=False: r̂_ui = p_uᵀ q_i)

    with μ the mean training rating (fixed), and minimizes over the observed ratings K::

        L = Σ_{(u,i)∈K} [ (r_ui − r̂_ui)² + λ (‖p_u‖² + b_u² + ‖q_i‖² + b_i²) ]
          = Σ_K (r_ui − r̂_ui)² + λ Σ_u n_u (‖p_u‖² + b_u²) + λ Σ_i n_i (‖q_i‖² + b_i²)

    (Koren et al. eq. 5; the second form is the weighted-λ penalty of ALS-WR, so both solvers
    minimize the same objective). Missing cells are unknown, not zero: unlike implicit ALS,
    nothing is learned from them.

    Parameters
    ----------
    factors : int, default 100
        Number of latent factors ``k``.
    solver : {"sgd", "als"}, default "sgd"
        ``"sgd"``: stochastic gradient descent, per rating (Funk 2006; Koren et al. 2009)::

            e = r_ui − r̂_ui
            b_u += γ (e − λ b_u);   b_i += γ (e − λ b_i)
            p_u += γ (e q_i − λ p_u);   q_i += γ (e p_u − λ q_i)   (from the values before)

        over all ratings in a new random order every epoch. Parallel by stratification
        (Gemulla et al., KDD 2011; the block grid of LIBMF, Zhuang et al., RecSys 2013): users
        and items are each split at random (from ``random_state``) into ``g`` groups holding
        about equal numbers of ratings (``g`` = √(ratings / 2048), at most 32: chosen from the
        data, never from the thread count), giving ``g × g`` blocks; internally the rows are
        relabelled so that each group is contiguous in memory. Each epoch shuffles every block
        and runs
        ``g`` strata, in a random order, one after the other; a stratum is ``g`` blocks that
        share no user and no item, so threads update them at the same time without touching
        the same rows, each block by one thread in its shuffled order. The results are
        therefore identical for any ``num_threads`` (lock-free Hogwild-style SGD is not
        reproducible), and the grid does not change the quality (same test RMSE as one fully
        shuffled sequence, and as Surprise's SVD, on MovieLens).

        ``"als"``: ALS-WR (Zhou, Wilkinson, Schreiber & Pan, "Large-scale parallel
        collaborative filtering for the Netflix prize", AAIM 2008): users, then items, each
        row solved exactly over its observed ratings with ``λ·n_u`` (``λ·n_i``) on the
        diagonal; with ``biased=True`` the bias is solved jointly with the factors
        (``x = [p_u, b_u]`` against ``[q_i, 1]``). ``learning_rate`` is not used.
    learning_rate : float, default 0.005
        SGD step ``γ`` (> 0).
    regularization : float, default 0.02
        ``λ`` (>= 0), per rating (as Surprise's ``reg_all`` and Koren et al.).
    iterations : int, default 20
        SGD epochs, or ALS sweeps (users then items).
    biased : bool, default True
        Learn ``μ``, ``b_u``, ``b_i``. With ``False`` the prediction is ``p_uᵀ q_i`` alone.
    init_std : float, default 0.1
        Standard deviation of the initial factors (normal, mean 0; biases start at 0). Users
        and items without any rating keep all-zero factors.
    dtype : np.float32 or np.float64, default np.float32
        Precision of the factors and of the arithmetic (the loss is summed in float64).
    random_state : None, int or numpy.random.Generator
        Seeds the initial factors, the SGD groups, shuffles and stratum orders: the same
        value gives identical models, with either backend.
    num_threads : int, default 0
        Threads of the C++ backend; 0 uses all cores (or ``OMP_NUM_THREADS``). Results do not
        depend on it.
    backend : {"cpp", "reference"}, default "cpp"
        ``"reference"`` runs the pure-numpy twin (:mod:`mfkit.reference.explicit`; very slow).

    Attributes
    ----------
    user_factors : ndarray (n_users, factors)
    item_factors : ndarray (n_items, factors)
    user_bias : ndarray (n_users,)
    item_bias : ndarray (n_items,)
        ``b_u`` and ``b_i`` (zeros when ``biased=False``).
    global_mean : float
        ``μ``, the mean training rating, correctly rounded (an exact sum: the same number
        whatever the order, so a fit by blocks on a cluster gets it too); used for unknown
        users and items even when unbiased.
    rating_range : ndarray (2,)
        Smallest and largest training rating: :meth:`predict` clips to it by default.
    loss_history : list of float
        ``L`` after every epoch / sweep.

    Notes
    -----
    Numeric limits: ratings above ``√max`` of the dtype (1.8e19 in float32) raise
    ``ValueError`` (squared errors would overflow). Far below that, large ratings make SGD
    diverge (from about 1e4 with the default ``learning_rate``) and float32 ALS systems
    singular (from about 1e5): the factors and the loss are checked after every iteration
    and every fold-in, and :class:`mfkit.NumericalError` names the iteration, the remedy and
    the largest rating.
    """

    _fitted_arrays = ("user_factors", "item_factors", "user_bias", "item_bias", "rating_range",
                      "loss_history")
    _fitted_scalars = ("global_mean",)
    _format1_scalars = {"_global_mean": "global_mean"}
    _parameter_constraints = {
        "factors": Integer(1),
        "solver": Options("sgd", "als"),
        "learning_rate": Real(0.0, strict=True),
        "regularization": Real(0.0),
        "iterations": Integer(1),
        "biased": Boolean(),
        "init_std": Real(0.0, strict=True),
        "dtype": DType(),
        "random_state": RandomState(),
        "num_threads": THREADS,
        "backend": BACKEND,
    }

    # Default search space of mfkit.tuning (param -> ("log" | "float" | "int" | "int_log", low,
    # high) or ("categorical", [choices])): the SGD step, its epochs and the penalty.
    _search_space = {"factors": ("int_log", 8, 256), "learning_rate": ("log", 1e-3, 0.05),
                     "regularization": ("log", 1e-3, 0.3), "iterations": ("int", 10, 100)}

    def __init__(self, factors=100, solver="sgd", learning_rate=0.005, regularization=0.02,
                 iterations=20, biased=True, init_std=0.1, dtype=np.float32, random_state=None,
                 num_threads=0, backend="cpp"):
        self.factors = factors
        self.solver = solver
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.biased = biased
        self.init_std = init_std
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend

    # ------------------------------------------------------------------ fitting
    def fit(self, ratings: Data, callback: Callback | None = None,
            show_progress: bool = True) -> ExplicitMF:
        """Fit on the observed ratings.

        Parameters
        ----------
        ratings : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            Users × items. Sparse: every **stored** entry is an observed rating, including
            stored zeros (a rating of 0); unstored cells are unknown. CSR is used as is, other
            formats are converted once (with a warning); two stored entries for one cell raise
            ``ValueError``. Dense array: **0 means missing** (the tutorial form), every non-zero
            is a rating. An ``Interactions`` (e.g. ``datasets.from_csv(..., value_col=
            "rating")``) also leaves its raw id maps on the model (``user_ids`` /
            ``item_ids``). The argument is never modified.
        callback : callable, optional
            ``callback(iteration, elapsed_seconds, loss)`` after every epoch / sweep (0-based
            iteration, the seconds it took, ``L`` after it).
        show_progress : bool, default True
            Show a progress bar (unless off globally: ``mfkit.set_config``).

        Returns
        -------
        self

        Raises
        ------
        NumericalError
            SGD diverged (the loss is no longer finite: lower ``learning_rate``), or an ALS
            system is singular (only possible with ``regularization=0``).
        """
        return super().fit(ratings, callback, show_progress)

    def _progress_label(self, params):
        return f"ExplicitMF ({params['solver']})"

    def _prepare(self, ratings, params, rng):
        dtype, k = params["dtype"], params["factors"]
        matrix = check_ratings(ratings, dtype)
        if matrix.nnz == 0:
            raise ValueError("ratings holds no observed rating")
        largest = check_magnitude(
            matrix.data, float(np.sqrt(np.finfo(dtype).max)), "ratings",
            f"squared errors must stay finite in {np.dtype(dtype).name}",
            "scale the ratings down or use dtype=np.float64")
        by_user = csr_arrays(matrix)
        n_users, n_items = matrix.shape
        values = by_user.data.astype(np.float64)
        user_factors = normal_factors(rng, params["init_std"], np.empty((n_users, k), dtype))
        item_factors = normal_factors(rng, params["init_std"], np.empty((n_items, k), dtype))
        user_factors[np.diff(by_user.indptr) == 0] = 0
        item_factors[np.bincount(by_user.indices, minlength=n_items) == 0] = 0
        state = SimpleNamespace(
            rng=rng, params=params, backend=get_backend(params["backend"]),
            threads=resolve_num_threads(params["num_threads"]),
            global_mean=exact_mean(values), rating_range=np.array([values.min(), values.max()]),
            user_bias=np.zeros(n_users, dtype=dtype), item_bias=np.zeros(n_items, dtype=dtype),
            loss_history=[], largest=largest)
        state.common = dict(global_mean=state.global_mean, regularization=params["regularization"],
                            biased=params["biased"], num_threads=state.threads)
        if params["solver"] == "sgd":
            # Work in the internal labelling (each block's rows contiguous), undone at the end.
            state.layout = self._sgd_layout(by_user, dtype, rng)
            state.loss_ratings = state.layout.ratings
            state.user_factors = np.ascontiguousarray(user_factors[state.layout.user_order])
            state.item_factors = np.ascontiguousarray(item_factors[state.layout.item_order])
        else:
            state.by_user, state.by_item = by_user, transposed(by_user)
            state.loss_ratings = by_user
            state.user_factors, state.item_factors = user_factors, item_factors
        return state

    def _iterate(self, state, iteration):
        backend, common = state.backend, state.common
        if state.params["solver"] == "sgd":
            blocks = state.layout.blocks
            seed = int(state.rng.integers(0, 2**64, dtype=np.uint64))
            strata = state.rng.permutation(blocks.grid).astype(np.int32)
            backend.explicit_shuffle(blocks, seed, num_threads=state.threads)
            backend.explicit_sgd_epoch(blocks, strata, state.user_factors, state.item_factors,
                                       state.user_bias, state.item_bias,
                                       learning_rate=state.params["learning_rate"], **common)
            return
        try:
            backend.explicit_als_solve_rows(state.by_user, state.item_factors, state.item_bias,
                                            state.user_factors, state.user_bias, **common)
            backend.explicit_als_solve_rows(state.by_item, state.user_factors, state.user_bias,
                                            state.item_factors, state.item_bias, **common)
        except NumericalError as error:  # a singular system: say what to change
            what = str(error).split(";")[0]
            raise NumericalError(f"{what} in iteration {iteration}; "
                                 f"{self._remedy(state.params, state.largest)}") from None

    def _after_iteration(self, state, iteration):
        loss = state.backend.explicit_loss(state.loss_ratings, state.user_factors,
                                           state.item_factors, state.user_bias, state.item_bias,
                                           **state.common)
        if not np.isfinite(loss):
            raise self._not_finite("the loss is", f"after iteration {iteration}", state.params,
                                   state.largest)
        state.loss_history.append(loss)
        return Step(loss, {"loss": loss})

    def _finite_state(self, state):
        return dict(user_factors=state.user_factors, item_factors=state.item_factors,
                    user_bias=state.user_bias, item_bias=state.item_bias), state.largest

    def _remedy(self, params, largest):
        if params["solver"] == "sgd":
            advice = f"the SGD diverged: lower learning_rate (now {params['learning_rate']})"
        else:
            advice = f"raise regularization (now {params['regularization']})"
        return f"{advice}; the largest |rating| is {largest:.3g} (scale the ratings if large)"

    def _finish(self, state, iterations):
        user_factors, user_bias = state.user_factors, state.user_bias
        item_factors, item_bias = state.item_factors, state.item_bias
        if state.params["solver"] == "sgd":  # back to the caller's ids
            user_factors, user_bias = self._unpermute(state.layout.user_order, user_factors,
                                                      user_bias)
            item_factors, item_bias = self._unpermute(state.layout.item_order, item_factors,
                                                      item_bias)
        return dict(user_factors=user_factors, item_factors=item_factors, user_bias=user_bias,
                    item_bias=item_bias, global_mean=state.global_mean,
                    rating_range=state.rating_range, loss_history=state.loss_history)

    @staticmethod
    def _sgd_layout(by_user: CsrArrays, dtype, rng: np.random.Generator) -> _SgdLayout:
        """Blocks of the ``grid × grid`` SGD grid, in a relabelling of users and items that
        makes every block's rows contiguous (triplets grouped by block; copies)."""
        n_users, n_items = by_user.shape
        nnz = len(by_user.indices)
        grid = max(1, min(SGD_GRID, int(np.sqrt(nnz / SGD_BLOCK_RATINGS)), n_users, n_items))
        user_counts = np.diff(by_user.indptr)
        item_counts = np.bincount(by_user.indices, minlength=n_items)
        user_order, user_block = _balanced_blocks(user_counts, grid, rng)
        item_order, item_block = _balanced_blocks(item_counts, grid, rng)
        user_label = np.empty(n_users, dtype=np.int32)
        user_label[user_order] = np.arange(n_users, dtype=np.int32)
        item_label = np.empty(n_items, dtype=np.int32)
        item_label[item_order] = np.arange(n_items, dtype=np.int32)
        users = user_label[np.repeat(np.arange(n_users), user_counts)]
        items = item_label[by_user.indices]
        ratings = np.ascontiguousarray(by_user.data, dtype=dtype)
        # Grouped by internal user (for the loss), then by block (for the epochs).
        by_row = np.argsort(users, kind="stable")
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
        internal = CsrArrays(indptr=indptr, indices=np.ascontiguousarray(items[by_row]),
                             data=ratings[by_row], shape=(n_users, n_items))
        block = user_block[users].astype(np.int64) * grid + item_block[items]
        by_block = np.argsort(block, kind="stable")
        block_ptr = np.zeros(grid * grid + 1, dtype=np.int64)
        np.cumsum(np.bincount(block, minlength=grid * grid), out=block_ptr[1:])
        blocks = RatingBlocks(
            users=np.ascontiguousarray(users[by_block]),
            items=np.ascontiguousarray(items[by_block]),
            ratings=np.ascontiguousarray(ratings[by_block]),
            block_ptr=block_ptr, user_block=user_block, item_block=item_block, grid=grid)
        return _SgdLayout(blocks, user_order, item_order, internal)

    @staticmethod
    def _unpermute(order, factors, bias):
        out_factors = np.empty_like(factors)
        out_factors[order] = factors
        out_bias = np.empty_like(bias)
        out_bias[order] = bias
        return out_factors, out_bias

    def loss(self, ratings: Data) -> float:
        """``L`` (class docstring) of the fitted model on ``ratings`` (validated as in ``fit``,
        of the model's shape)."""
        self._check_fitted()
        params = self._settings()
        matrix = check_ratings(ratings, params["dtype"])
        if matrix.shape != (len(self.user_factors), len(self.item_factors)):
            raise ValueError(f"ratings has shape {matrix.shape}, but the model was fitted on "
                             f"{(len(self.user_factors), len(self.item_factors))}")
        return self._backend().explicit_loss(
            csr_arrays(matrix), self.user_factors, self.item_factors, self.user_bias,
            self.item_bias, global_mean=self.global_mean,
            regularization=params["regularization"], biased=params["biased"],
            num_threads=self._threads())

    # ------------------------------------------------------------------ prediction
    def _known_rows(self, kind: str) -> np.ndarray:
        """Rows the model knows something about: a non-zero factor or bias (rows without any
        training rating keep exactly zero)."""
        factors = getattr(self, f"{kind}_factors")
        bias = getattr(self, f"{kind}_bias")
        return self._cached(f"{kind}_known", factors,
                            lambda f: np.any(f != 0, axis=1) | (bias != 0))

    def predict(self, user_ids: Ids, item_ids: Ids, clip: bool = True,
                return_known: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted ratings ``r̂_ui`` for pairs ``(user_ids[n], item_ids[n])``, vectorized.

        Parameters
        ----------
        user_ids, item_ids : int or array of int
            Broadcast against each other (e.g. one user and many items). Ids at or beyond the
            fitted size, and fitted rows that had no training rating, are *unknown*.
        clip : bool, default True
            Clip predictions to ``rating_range`` (the training ratings' min and max), as
            Surprise does.
        return_known : bool, default False
            Also return a boolean array: True where both the user and the item are known.

        Returns
        -------
        predictions : float or ndarray of float64
            ``μ + b_u + b_i + p_uᵀ q_i`` (biased) or ``p_uᵀ q_i``. A pair with an unknown user
            or item gets ``μ`` plus the bias of whichever side is known (``μ`` alone when
            unbiased): never an error. Without ``return_known`` a ``UserWarning`` says how many
            pairs fell back.
        known : bool or ndarray of bool
            Only with ``return_known=True``.
        """
        self._check_fitted()
        clip = check_bool(clip, "clip")
        return_known = check_bool(return_known, "return_known")
        users, items = self._pair_ids(user_ids, item_ids)
        scalar = users.ndim == 0
        users, items = users.reshape(-1), items.reshape(-1)
        shape = np.broadcast_shapes(np.shape(user_ids), np.shape(item_ids))
        n_users, n_items = len(self.user_factors), len(self.item_factors)
        known_user = users < n_users
        known_item = items < n_items
        u = np.where(known_user, users, 0)
        i = np.where(known_item, items, 0)
        known_user &= self._known_rows("user")[u]
        known_item &= self._known_rows("item")[i]
        known = known_user & known_item
        biased = self._settings()["biased"]
        mu = self.global_mean
        prediction = np.empty(len(users), dtype=np.float64)
        for start in range(0, len(users), _PREDICT_CHUNK):
            part = slice(start, start + _PREDICT_CHUNK)
            dots = np.einsum("ij,ij->i", self.user_factors[u[part]],
                             self.item_factors[i[part]]).astype(np.float64)
            if biased:
                value = (mu + np.where(known_user[part], self.user_bias[u[part]], 0)
                         + np.where(known_item[part], self.item_bias[i[part]], 0))
                prediction[part] = np.where(known[part], value + dots, value)
            else:
                prediction[part] = np.where(known[part], dots, mu)
        if clip:
            np.clip(prediction, self.rating_range[0], self.rating_range[1], out=prediction)
        unknown = int(len(known) - np.count_nonzero(known))
        if unknown and not return_known:
            warnings.warn(
                f"{unknown} of {len(known)} pairs have a user or item the model does not know "
                "(beyond the fitted ids, or without training ratings); they are predicted as "
                "the global mean plus the known bias. Pass return_known=True to get the mask.",
                UserWarning, stacklevel=2)
        if scalar:
            result = float(prediction[0])
            return (result, bool(known[0])) if return_known else result
        prediction, known = prediction.reshape(shape), known.reshape(shape)
        return (prediction, known) if return_known else prediction

    @staticmethod
    def _pair_ids(user_ids, item_ids):
        arrays = []
        for name, ids in (("user_ids", user_ids), ("item_ids", item_ids)):
            array = np.asarray(ids)
            if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                           or array.size == 0):
                raise TypeError(f"{name} must be an integer or an array of integers, got "
                                f"{array.dtype}")
            array = array.astype(np.int64)
            if array.size and array.min() < 0:
                raise ValueError(f"{name} contains negative ids (smallest {array.min()})")
            arrays.append(array)
        try:
            users, items = np.broadcast_arrays(*arrays)
        except ValueError:
            raise ValueError(f"user_ids and item_ids must have the same length (or broadcast), "
                             f"got shapes {arrays[0].shape} and {arrays[1].shape}") from None
        return users, items

    # ------------------------------------------------------------------ serving hooks
    def _check_rows(self, rows, name: str):
        """Rating rows for serving: stored zeros are ratings too (see :func:`check_ratings`)."""
        return check_ratings(rows, self.item_factors.dtype, name=name)

    def _fold_in(self, rows, kind: str):
        """Exact ALS-WR solves of the given rating rows with the other side fixed:
        ``(factors, biases)`` minimizing the row's part of ``L`` (see the class docstring)."""
        params = self._settings()
        other = "item" if kind == "user" else "user"
        fixed = getattr(self, f"{other}_factors")
        fixed_bias = getattr(self, f"{other}_bias")
        solved = np.zeros((rows.shape[0], fixed.shape[1]), dtype=fixed.dtype)
        solved_bias = np.zeros(rows.shape[0], dtype=fixed.dtype)
        self._backend().explicit_als_solve_rows(
            csr_arrays(rows), fixed, fixed_bias, solved, solved_bias,
            global_mean=self.global_mean, regularization=params["regularization"],
            biased=params["biased"], num_threads=self._threads())
        return solved, solved_bias

    def _fold_in_users(self, user_items) -> np.ndarray:
        return self._fold_in(user_items, "user")[0]

    def _fold_in_items(self, item_users) -> np.ndarray:
        return self._fold_in(item_users, "item")[0]

    def _ranking_users(self, user_factors: np.ndarray) -> np.ndarray:
        """``[p_u, 1]``: with :meth:`_ranking_items` the dot product is ``p_uᵀq_i + b_i``,
        which ranks items exactly like ``r̂_ui`` (``μ + b_u`` is the same for all items)."""
        if not self._settings()["biased"]:
            return user_factors
        ones = np.ones((len(user_factors), 1), dtype=user_factors.dtype)
        return np.hstack([user_factors, ones])

    def _ranking_items(self) -> np.ndarray:
        """``[q_i, b_i]`` (see :meth:`_ranking_users`)."""
        if not self._settings()["biased"]:
            return self.item_factors
        return self._cached("ranking_items", self.item_factors,
                            lambda f: np.hstack([f, self.item_bias[:, None].astype(f.dtype)]))

    def recommend(self, userid: Ids, user_items: Rows | None = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: ArrayLike | None = None,
                  recalculate_user: bool = False, items: ArrayLike | None = None,
                  approximate: bool = False) -> Ranked:
        """Top-``N`` items by predicted rating; see :meth:`mfkit._base.Recommender.recommend`.

        The scores are the predicted ratings ``r̂_ui`` (not clipped). ``user_items`` rows are
        ratings (stored zeros count as rated); ``filter_already_liked_items`` leaves out every
        rated item. ``recalculate_user=True`` solves ``p_u`` and ``b_u`` exactly from the
        given ratings with the items fixed (ALS-WR row solve), so new users need no refit.
        ``approximate=True`` ranks ``[p_u, 1]·[q_i, b_i]`` with the index of ``build_index``
        (``μ + b_u`` is added after, so it ranks exactly as the predicted ratings).
        """
        ids, scores = super().recommend(userid, user_items, N, filter_already_liked_items,
                                        filter_items, recalculate_user, items, approximate)
        if not self._settings()["biased"]:
            return ids, scores
        users, scalar = check_ids(userid, "userid")
        if recalculate_user:
            rows = self._interaction_rows(user_items, len(users), len(self.item_factors),
                                          "user_items", "userid")
            user_bias = self._fold_in(rows, "user")[1]
        else:
            user_bias = self.user_bias[users]
        offset = (self.global_mean + user_bias).astype(scores.dtype)
        if scalar:
            return ids, scores + offset[0]
        return ids, scores + offset[:, None]  # -inf padding stays -inf

    def _partial_solve(self, kind: str, rows) -> dict:
        """Factors *and biases* of the given rows (ALS-WR row solves)."""
        solved, solved_bias = self._fold_in(rows, kind)
        return {"factors": solved, "bias": solved_bias}
