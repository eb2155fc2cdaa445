"""Implicit-feedback alternating least squares (Hu, Koren & Volinsky, ICDM 2008)."""
from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import scipy.linalg

from .._base import Recommender, Step, get_backend
from .._csr import csr_arrays, transposed
from .._init_factors import normal_factors
from .._params import BACKEND, THREADS, Boolean, DType, Integer, Options, RandomState, Real
from .._threads import resolve_num_threads
from .._typing import Callback, Data, Rows
from .._validation import check_ids, check_int, check_magnitude, check_user_items
from ..exceptions import NumericalError
from ..reference.als import confidence, regularization_offset, row_regularization


def confidence_limit(dtype, solver: str) -> float:
    """The largest confidence ``1 + alpha·|r|`` a fit accepts (see the class notes).

    CG forms ``c·(yᵀp)·y`` with a direction ``p`` of order ``c·y``: beyond ``√max`` of the
    dtype that product overflows even for unit factors. Cholesky (and the Woodbury form) and the
    block solver (Cholesky on blocks of coordinates) only need ``c`` itself to be finite.
    """
    largest = float(np.finfo(dtype).max)
    return float(np.sqrt(largest)) if solver == "cg" else largest


# A failing solve blames the value scale when rounding c·yyᵀ errs by this much relative to c.
_SCALE_BLAMED = 1e-3


@dataclass(frozen=True, eq=False)
class ExplainWeights:
    """What :meth:`ALS.explain` returns to be passed back in: the Cholesky factorization of
    ``W_u⁻¹`` (read-only), tied to the user, the history and the item factors it was computed
    from, so that reusing it for anything else raises ``ValueError`` instead of explaining with
    another user's weights."""

    userid: int
    history: bytes  # digest of the history row (items, values) and the settings used
    cho_factor: tuple  # scipy.linalg.cho_factor of W_u⁻¹
    item_factors: weakref.ref  # the item factors it was computed from


class ALS(Recommender):
    """Matrix factorization for implicit feedback by alternating least squares.

    Minimizes (Hu, Koren & Volinsky 2008, eq. 3)::

        Σ_{u,i} c_ui (p_ui − x_uᵀ y_i)²  +  λ (Σ_u n_u^ν ‖x_u‖² + Σ_i n_i^ν ‖y_i‖²)

    over all user × item cells, where a stored value ``r`` gives preference ``p = [r > 0]`` and
    confidence ``c = 1 + alpha·|r|`` (a negative ``r`` is a dislike: ``p = 0`` with extra
    confidence), and every unstored cell has ``p = 0, c = 1``. ``n_u`` / ``n_i`` count a row's
    stored entries; with the default ``regularization_exponent=0`` the penalty is the paper's
    plain ``λ‖·‖²``, ``1`` gives ALS-WR-style scaling (Zhou et al. 2008).

    ``regularization_scheme="frequency"`` replaces ``n_u^ν`` by ``(n_u + |I|/alpha)^ν`` (and
    ``n_i^ν`` by ``(n_i + |U|/alpha)^ν``, ``|I|`` / ``|U|`` the numbers of items / users): the
    frequency-scaled regularization of Rendle et al. (RecSys 2022), ``λ_R·(n_u + α₀|I|)^ν``,
    exactly. Their loss ``Σ_observed (1 − s)² + α₀ Σ_all s² + λ_R·(...)`` is this one for binary
    data with::

        alpha = 1 / α₀        regularization = λ_R · (1 + α₀) / α₀        same ν

    and factors larger by ``√(1 + α₀)`` (scores by ``1 + α₀``: the same rankings). Derivation:
    per pair their weights are ``1 + α₀`` (observed) and ``α₀`` (unobserved), ``α₀`` times
    mfkit's ``1 + alpha`` and ``1``; completing the square, an observed pair's target is
    ``1 / (1 + α₀)`` instead of 1, and scaling the factors by ``√(1 + α₀)`` restores target 1 at
    the cost of that factor in λ. Their objective equals ``α₀ / (1 + α₀)²`` times this one plus
    ``α₀·|S| / (1 + α₀)`` (``|S|`` the observed pairs).

    Parameters
    ----------
    factors : int, default 64
        Number of latent factors ``k``.
    regularization : float, default 15.0
        ``λ`` above (>= 0). The penalty competes with a data term summed over *all* cells, so
        useful values are much larger than in explicit-rating MF.
    alpha : float, default 2.0
        Confidence slope: ``c = 1 + alpha·|r|``.

        The defaults were chosen on MovieLens latest-small (ratings >= 4 as positives, seeded
        leave-5-out, nDCG@10 averaged over 3 splits, factors 64): a plateau around alpha 1.5–3
        and regularization 15–20 (nDCG@10 ≈ 0.18, against 0.158 for ``implicit``'s defaults;
        the paper's large confidences, alpha 20–40, scored 0.14–0.17 at any regularization);
        see ``benchmarks/bench_quality.py``. Tune both for your data.
    iterations : int, default 15
        Full sweeps (users, then items).
    solver : {"cg", "cholesky", "block"}, default "cg"
        ``"cholesky"`` solves each row exactly, O(k³) per row; ``"cg"`` runs ``cg_steps`` conjugate
        gradient steps warm-started from the current factors (Takács et al., RecSys 2011), O(k²)
        per step: much faster for large ``k`` and, after a few iterations, as accurate.
        ``"block"`` is iALS++'s subspace descent (Rendle et al. 2021), warm-started too: per row,
        ``block_sweeps`` passes over blocks of ``block_size`` consecutive coordinates, each block
        solved exactly with the others fixed, O(n_u·k·b + k² + k·b²) per pass; with
        ``block_size >= factors`` it is the exact (Cholesky) solve.
    cg_steps : int, default 3
        Conjugate gradient steps per row and half-sweep (``solver="cg"`` only).
    regularization_exponent : float, default 0.0
        ``ν`` above (>= 0).
    dtype : np.float32 or np.float64, default np.float32
        Precision of the factors and of all arithmetic.
    random_state : None, int or numpy.random.Generator
        Seeds the initial factors; the same value gives identical factors.
    num_threads : int, default 0
        Threads for the C++ backend; 0 uses all available cores (or ``OMP_NUM_THREADS``).
        Results do not depend on it.
    backend : {"cpp", "reference"}, default "cpp"
        ``"reference"`` runs the pure-numpy twin of the same algorithm (slow; for checking).
    calculate_training_loss : bool, default False
        Compute the full objective after every iteration into ``loss_history`` (costs about one
        CG step per iteration; never forms the dense matrix).
    regularization_scheme : {"count", "frequency"}, default "count"
        What ``λ`` is scaled by: ``n^ν`` (``"count"``) or ``(n + N/alpha)^ν`` (``"frequency"``,
        Rendle et al. 2022, ``N`` the size of the other side; needs ``alpha > 0``). See above for
        the mapping to the paper's parameters. Equal for ``ν = 0``.
    block_size : int, default 32
        Coordinates per block of ``solver="block"`` (>= 1; values above ``factors`` mean one
        block, the exact solve; the last block is shorter when it does not divide ``factors``).
    block_sweeps : int, default 1
        Passes over all blocks per row and half-sweep (``solver="block"`` only; iALS++ makes one).

    Attributes
    ----------
    user_factors : ndarray (n_users, factors)
    item_factors : ndarray (n_items, factors)
    loss_history : list of float
        The objective after each iteration (empty unless ``calculate_training_loss``).

    Notes
    -----
    Numeric limits: the largest confidence ``1 + alpha·|r|`` must stay within
    :func:`confidence_limit`: ``√max`` of the dtype for ``solver="cg"`` (1.8e19 in float32,
    1.3e154 in float64; CG forms ``c·(yᵀp)·y`` with ``p`` of order ``c·y``) and ``max`` itself
    for ``"cholesky"``; larger values (in ``fit`` and in every serving call's interaction
    rows) raise ``ValueError`` naming the argument, the magnitude and the remedies: log-scale
    the values, lower ``alpha``, or use float64. Below the limit a very ill-conditioned fit can
    still fail (measured: float32 CG from confidences of about 2e13, float64 from about 2e28;
    Cholesky in float32 from 2e10 on MovieLens): the factors are checked after every
    iteration and every fold-in, and a non-finite one raises :class:`mfkit.NumericalError`
    naming the iteration and, when the confidences are large for the dtype, the value scale.
    """

    _fitted_arrays = ("user_factors", "item_factors", "loss_history")
    _parameter_constraints = {
        "factors": Integer(1),
        "regularization": Real(0.0),
        "alpha": Real(0.0),
        "iterations": Integer(1),
        "solver": Options("cg", "cholesky", "block"),
        "cg_steps": Integer(1),
        "regularization_exponent": Real(0.0),
        "dtype": DType(),
        "random_state": RandomState(),
        "num_threads": THREADS,
        "backend": BACKEND,
        "calculate_training_loss": Boolean(),
        "regularization_scheme": Options("count", "frequency"),
        "block_size": Integer(1),
        "block_sweeps": Integer(1),
    }

    # Default search space of mfkit.tuning (param -> ("log" | "float" | "int" | "int_log", low,
    # high) or ("categorical", [choices])); λ competes with all cells, hence its large range.
    _search_space = {"factors": ("int_log", 16, 256), "regularization": ("log", 1e-2, 1e3),
                     "alpha": ("log", 0.1, 100.0), "iterations": ("int", 5, 30)}

    def __init__(self, factors=64, regularization=15.0, alpha=2.0, iterations=15, solver="cg",
                 cg_steps=3, regularization_exponent=0.0, dtype=np.float32, random_state=None,
                 num_threads=0, backend="cpp", calculate_training_loss=False,
                 regularization_scheme="count", block_size=32, block_sweeps=1):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.solver = solver
        self.cg_steps = cg_steps
        self.regularization_exponent = regularization_exponent
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend
        self.calculate_training_loss = calculate_training_loss
        self.regularization_scheme = regularization_scheme
        self.block_size = block_size
        self.block_sweeps = block_sweeps

    def _check_params(self, params):
        if params["regularization_scheme"] == "frequency" and not params["alpha"] > 0:
            raise ValueError(
                "regularization_scheme='frequency' needs alpha > 0: it weighs unobserved pairs "
                "by α₀ = 1/alpha (Rendle et al. 2022), infinite at alpha=0; use a positive alpha "
                "or regularization_scheme='count'")

    def _initial_factors(self, rng: np.random.Generator, rows: int, factors: int, dtype):
        """Small Gaussian factors, std 0.1/√k (Rendle et al., RecSys 2022)."""
        return normal_factors(rng, 0.1 / np.sqrt(factors), np.empty((rows, factors), dtype))

    def fit(self, user_items: Data, callback: Callback | None = None,
            show_progress: bool = True) -> ALS:
        """Factorize ``user_items`` (users × items; CSR preferred, see below).

        Parameters
        ----------
        user_items : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            Stored values are the observations ``r``. An ``Interactions`` also leaves its raw id
            maps on the model as ``user_ids`` / ``item_ids`` (saved with it). CSR (matrix or
            array) is used as is; other sparse formats and dense arrays are converted once (a
            warning says so for sparse).
            Duplicate entries are summed and stored zeros dropped, on a copy: the argument is
            never modified.
        callback : callable, optional
            Called as ``callback(iteration, elapsed_seconds, loss)`` after every iteration, with
            the 0-based iteration, the seconds that iteration took (as ``implicit``) and the
            objective (``None`` unless ``calculate_training_loss``).
        show_progress : bool, default True
            Show a progress bar (unless off globally: ``mfkit.set_config``).

        Returns
        -------
        self
        """
        return super().fit(user_items, callback, show_progress)

    def _prepare(self, user_items, params, rng):
        dtype, k = params["dtype"], params["factors"]
        user_items = check_user_items(user_items, dtype)
        largest = self._check_confidence(user_items, params, "user_items")
        by_user = csr_arrays(user_items)
        by_item = transposed(by_user)
        n_users, n_items = user_items.shape
        self._check_row_regularization(params, by_user, by_item)
        user_factors = self._initial_factors(rng, n_users, k, dtype)
        item_factors = self._initial_factors(rng, n_items, k, dtype)
        return SimpleNamespace(by_user=by_user, by_item=by_item, user_factors=user_factors,
                               item_factors=item_factors, backend=get_backend(params["backend"]),
                               options=self._solve_options(params),
                               solver=self._solver_options(params), loss_history=[],
                               calculate_loss=params["calculate_training_loss"], params=params,
                               largest=largest)

    @staticmethod
    def _solve_options(params) -> dict:
        return dict(regularization=params["regularization"],
                    regularization_exponent=params["regularization_exponent"],
                    regularization_scheme=params["regularization_scheme"],
                    alpha=params["alpha"], num_threads=resolve_num_threads(params["num_threads"]))

    @staticmethod
    def _solver_options(params) -> dict:
        """The solver and its settings, as ``als_half_sweep`` / ``als_solve_rows`` take them."""
        return dict(solver=params["solver"], cg_steps=params["cg_steps"],
                    block_size=params["block_size"], block_sweeps=params["block_sweeps"])

    def _iterate(self, state, iteration):
        solve = dict(state.options, **state.solver)
        try:
            state.backend.als_half_sweep(state.by_user, state.item_factors, state.user_factors,
                                         **solve)
            state.backend.als_half_sweep(state.by_item, state.user_factors, state.item_factors,
                                         **solve)
        except NumericalError as error:
            raise self._singular(error, f"in iteration {iteration}", state.params,
                                 state.largest) from None

    def _finite_state(self, state):
        return dict(user_factors=state.user_factors, item_factors=state.item_factors), \
            state.largest

    def _remedy(self, params, largest):
        confidence = 1 + params["alpha"] * largest
        if confidence * np.finfo(params["dtype"]).eps < _SCALE_BLAMED:
            return f"raise regularization (now {params['regularization']})"
        dtype = np.dtype(params["dtype"])
        return (f"the largest confidence 1 + alpha·|value| is {confidence:.3g} (alpha="
                f"{params['alpha']}), too large for {dtype.name} arithmetic: log-scale the "
                "values (e.g. numpy.log1p), lower alpha"
                + (" or use dtype=np.float64" if dtype == np.float32 else ""))

    def _singular(self, error, where: str, params, largest) -> NumericalError:
        """A Cholesky failure of the kernel, with the remedy that fits its cause."""
        what = str(error).split(";")[0].removeprefix("ALS: ")
        return NumericalError(f"ALS: {what} {where}; {self._remedy(params, largest)}")

    def _after_iteration(self, state, iteration):
        if not state.calculate_loss:
            return Step()
        loss = state.backend.als_loss(state.by_user, state.user_factors, state.item_factors,
                                      **state.options)
        state.loss_history.append(loss)
        return Step(loss, {"loss": loss})

    def _finish(self, state, iterations):
        return dict(user_factors=state.user_factors, item_factors=state.item_factors,
                    loss_history=state.loss_history)

    @staticmethod
    def _check_confidence(matrix, params, name: str) -> float:
        """The largest ``|r|`` of ``matrix``; ``ValueError`` if its confidence is above
        :func:`confidence_limit` (see the class notes)."""
        dtype, alpha = np.dtype(params["dtype"]), params["alpha"]
        limit = confidence_limit(dtype, params["solver"])
        return check_magnitude(
            matrix.data, (limit - 1) / alpha if alpha else float(np.finfo(dtype).max), name,
            f"with alpha={alpha} its confidence 1 + alpha·|value| would exceed {limit:.3g}, "
            f"beyond which the {params['solver']} solver overflows {dtype.name}",
            "log-scale the values (e.g. numpy.log1p), lower alpha or use dtype=np.float64")

    def _check_rows(self, rows, name: str):
        """Interaction rows for serving, with the confidence limit of ``fit``."""
        matrix = super()._check_rows(rows, name)
        self._check_confidence(matrix, self._settings(), name)
        return matrix

    @staticmethod
    def _check_row_regularization(params, *matrices):
        """λ_row (λ·n^ν or λ·(n + N/alpha)^ν) must stay finite in the model dtype for the
        longest row or column; ``matrices`` have ``indptr`` and ``shape`` (N = ``shape[1]``)."""
        exponent = params["regularization_exponent"]
        if exponent == 0:
            return
        for matrix in matrices:
            longest = int(np.diff(matrix.indptr).max(initial=0))
            offset = regularization_offset(params["regularization_scheme"], params["alpha"],
                                           matrix.shape[1])
            largest = row_regularization(params["regularization"], exponent, float(longest),
                                         offset)
            if not largest < float(np.finfo(params["dtype"]).max) / 1e3:
                raise ValueError(
                    f"the regularization of the longest row ({longest} entries) overflows "
                    f"{params['dtype']}: regularization * (n + offset)**regularization_exponent "
                    f"= {largest:.3g} (offset {offset:.3g} under regularization_scheme="
                    f"'{params['regularization_scheme']}'); lower regularization_exponent")

    # ------------------------------------------------------------------ serving hooks
    def _fold_in(self, rows, fixed: np.ndarray, side: str) -> np.ndarray:
        """Exact solves x = (FᵀC F + λI)⁻¹ FᵀC p for the given rows, F = ``fixed`` (cached FᵀF)."""
        params = self._settings()
        backend, threads = self._backend(), self._threads()
        fixed_gram = self._cached(f"{side}_gram", fixed,
                                  lambda f: backend.gram(f, num_threads=threads))
        solved = np.zeros((rows.shape[0], fixed.shape[1]), dtype=fixed.dtype)
        options = dict(self._solve_options(params), num_threads=threads)
        try:
            backend.als_solve_rows(csr_arrays(rows), fixed, fixed_gram, solved,
                                   solver="cholesky", cg_steps=1, **options)
        except NumericalError as error:
            largest = float(np.abs(rows.data).max(initial=0.0))
            raise self._singular(error, "in a fold-in", params, largest) from None
        return solved

    def _fold_in_users(self, user_items) -> np.ndarray:
        return self._fold_in(user_items, self.item_factors, "item")

    def _fold_in_items(self, item_users) -> np.ndarray:
        return self._fold_in(item_users, self.user_factors, "user")

    def explain(self, userid: int, user_items: Rows, itemid: int, N: int = 10,
                user_weights: tuple | None = None) -> tuple[float, list[tuple[int, float]], tuple]:
        """Why ``itemid`` is recommended to a user: its score split over the user's past items.

        Hu, Koren & Volinsky (2008, §5): with ``W_u = (YᵀC_uY + λI)⁻¹`` the recalculated score
        is ``ŷ_ui = Σ_j s_ij c_uj`` over the user's liked items ``j`` (``p_uj = 1``), where
        ``s_ij = y_iᵀ W_u y_j`` is the user-specific similarity of items ``i`` and ``j``.

        Parameters
        ----------
        userid : int
            The user (the history comes from ``user_items``, so new users work too); the
            returned ``user_weights`` are tied to it.
        user_items : sparse matrix, 1 × n_items
            The user's row of interactions.
        itemid : int
            The item to explain.
        N : int, default 10
            Number of contributions to return.
        user_weights : ExplainWeights, optional
            Returned by a previous call for the same ``userid`` and the same ``user_items``
            row (and the same fitted item factors): explaining further items then costs
            O(k² + n_u·k). Weights of another user, history or fit raise ``ValueError``.

        Returns
        -------
        score : float
            ``ŷ_ui``, equal to the score of the recalculated user factor.
        contributions : list of (item, contribution)
            The ``N`` largest contributions by magnitude, largest first.
        user_weights : ExplainWeights
            The Cholesky factorization of ``W_u⁻¹`` (``.cho_factor``, as
            ``scipy.linalg.cho_factor``) with the user and history it belongs to, to pass back
            in.
        """
        self._check_fitted()
        user, scalar = check_ids(userid, "userid")
        if not scalar:
            raise ValueError("userid must be a single id")
        n_items = len(self.item_factors)
        item, scalar = check_ids(itemid, "itemid", n_items)
        if not scalar:
            raise ValueError("itemid must be a single id (call again with user_weights for more)")
        N = check_int(N, "N", 1)
        params = self._settings()
        row = self._interaction_rows(user_items, 1, n_items, "user_items", "userid")
        liked_items, r = row.indices, row.data.astype(np.float64)
        Y = self.item_factors.astype(np.float64)
        c = confidence(r, params["alpha"])
        history = hashlib.blake2b(b"".join(np.ascontiguousarray(a).tobytes() for a in (
            liked_items.astype(np.int64), r, np.array([
                params["alpha"], params["regularization"], params["regularization_exponent"],
                params["regularization_scheme"] == "frequency"]))),
            digest_size=16).digest()
        if user_weights is None:
            user_weights = ExplainWeights(int(user[0]), history,
                                          self._explain_factor(Y, liked_items, c, params),
                                          weakref.ref(self.item_factors))
        else:
            self._check_explain_weights(user_weights, int(user[0]), history)
        weighted = scipy.linalg.cho_solve(user_weights.cho_factor, Y[item[0]])  # W_u y_i
        liked = r > 0
        contribution = (Y[liked_items[liked]] @ weighted) * c[liked]
        order = np.argsort(-np.abs(contribution), kind="stable")[:N]
        pairs = [(int(liked_items[liked][j]), float(contribution[j])) for j in order]
        return float(contribution.sum()), pairs, user_weights

    def _explain_factor(self, Y, liked_items, c, params) -> tuple:
        """``cho_factor(W_u⁻¹)`` (read-only) for the history ``liked_items`` / ``c``."""
        offset = regularization_offset(params["regularization_scheme"], params["alpha"],
                                       len(self.item_factors))
        lam = row_regularization(params["regularization"], params["regularization_exponent"],
                                 len(liked_items), offset)
        Yu = Y[liked_items]
        A = self._cached("item_gram64", self.item_factors, lambda f: Y.T @ Y).copy()
        A += Yu.T @ ((c - 1)[:, None] * Yu)
        A[np.diag_indices_from(A)] += lam
        try:
            factor, lower = scipy.linalg.cho_factor(A)
        except np.linalg.LinAlgError:
            raise NumericalError("explain: the user's system is singular; "
                                 "increase regularization") from None
        factor.flags.writeable = False
        return factor, lower

    def _check_explain_weights(self, weights, userid: int, history: bytes) -> None:
        if not isinstance(weights, ExplainWeights):
            raise ValueError("user_weights must be the ExplainWeights returned by a previous "
                             f"explain call, got {type(weights).__name__}")
        problem = None
        if weights.userid != userid:
            problem = f"were computed for user {weights.userid}, not user {userid}"
        elif weights.history != history:
            problem = (f"were computed from another history of user {userid} (or other "
                       "alpha / regularization)")
        elif weights.item_factors() is not self.item_factors:
            problem = "were computed from other item factors (the model was fitted again)"
        if problem:
            raise ValueError(f"user_weights {problem}; call explain without user_weights to "
                             "compute this user's weights")

    def loss(self, user_items: Data) -> float:
        """The objective of the fitted factors on ``user_items`` (same validation as ``fit``)."""
        self._check_fitted()
        params = self._settings()
        matrix = check_user_items(user_items, params["dtype"])
        if matrix.shape != (len(self.user_factors), len(self.item_factors)):
            raise ValueError(
                f"user_items has shape {matrix.shape}, but the model was fitted on "
                f"{(len(self.user_factors), len(self.item_factors))}"
            )
        return self._backend().als_loss(
            csr_arrays(matrix), self.user_factors, self.item_factors,
            **dict(self._solve_options(params), num_threads=self._threads()))
