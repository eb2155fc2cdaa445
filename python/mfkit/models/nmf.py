"""Non-negative matrix factorization with scikit-learn's objective, and fold-in of new users."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._base import Recommender, Step, get_backend
from .._csr import csr_arrays, transposed
from .._interactions import unwrap_interactions
from .._params import BACKEND, THREADS, DType, Integer, Options, RandomState, Real, RealOr
from .._threads import resolve_num_threads
from .._typing import Callback, Data
from .._validation import check_magnitude, check_user_items
from .._warnings import warn_caller
from ..exceptions import NotFittedError
from ..reference.nmf import penalty, penalty_weights
from ._nmf_init import data_mean, initial_factors

__all__ = ["NMF", "ConvergenceWarning"]

# H entries below this are flushed to 0 after each KL multiplicative step (as scikit-learn).
_KL_FLUSH = float(np.finfo(np.float64).eps)


def value_limit(dtype) -> float:
    """The largest value NMF accepts: its square must be finite in ``dtype`` (the Frobenius
    products) and its fourth power in float64 (measured: the default NNDSVD initialization
    fails from 1e20 in float32 and from 1e80 in float64)."""
    return min(float(np.sqrt(np.finfo(dtype).max)), float(np.finfo(np.float64).max) ** 0.25)


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before meeting its tolerance (the mfkit
    counterpart of ``sklearn.exceptions.ConvergenceWarning``)."""


class NMF(Recommender):
    """Non-negative matrix factorization ``X ≈ W H`` with scikit-learn's objective, faster.

    Minimizes, over ``W ≥ 0`` (n_samples × k) and ``H ≥ 0`` (k × n_features), exactly
    scikit-learn's ``NMF`` objective::

        D(X, WH) + α_W·ρ·n_features·Σ W + ½·α_W·(1 − ρ)·n_features·‖W‖²_F
                 + α_H·ρ·n_samples·Σ H  + ½·α_H·(1 − ρ)·n_samples·‖H‖²_F

    where ``ρ = l1_ratio`` and the data term ``D`` is ½‖X − WH‖²_F (``beta_loss="frobenius"``)
    or the generalized Kullback-Leibler divergence Σ x·log(x / WH) − x + WH
    (``"kullback-leibler"``). With ``missing="ignore"`` ``D`` runs over the stored entries of
    ``X`` only, so unstored cells are unknown instead of zero (e.g. ratings); scikit-learn has
    no such option. Sparse ``X`` is never densified.

    In recommender terms ``W`` holds the user factors and ``H`` the item factors:
    ``user_factors = W``, ``item_factors = Hᵀ`` and ``components_ = H``; a user's scores are
    ``w_u · H``. :meth:`transform` (and ``recommend(..., recalculate_user=True)``) solves ``W``
    for new rows with ``H`` fixed, as scikit-learn's ``transform``.

    Numerics: every step runs in C++ over CSR rows in parallel (results do not depend on the
    number of threads). The C++ kernels flush subnormal numbers to zero (x86 FTZ/DAZ, restored
    afterwards): multiplicative updates drive entries towards 0 geometrically, and subnormal
    arithmetic would slow a fit down about twofold; results differ from exact IEEE arithmetic
    by less than the smallest normal number (1.2e-38 in float32).

    Numeric limits: values above :func:`value_limit` (1.8e19 in float32, 1.2e77 in float64)
    raise ``ValueError`` (in ``fit``, ``transform`` and fold-in): their squares overflow the
    dtype (and the initialization's float64 products); scale them down or use float64. The
    factors are checked after every iteration and every transform (``NumericalError``).

    Parameters
    ----------
    n_components : int
        Number of components ``k``.
    solver : {"cd", "mu"}, default "cd"
        ``"cd"``: coordinate descent, i.e. HALS (Cichocki & Phan, IEICE Trans. Fundamentals
        E92-A(3), 2009), Frobenius only; each component of a row is set to its exact
        non-negative minimizer in turn. ``"mu"``: the multiplicative updates of Lee & Seung
        (NIPS 2001) for either loss, applied exactly as scikit-learn applies them (same order,
        same ε = float32 eps guards), so from the same W and H it gives scikit-learn's iterates.
    beta_loss : {"frobenius", "kullback-leibler"}, default "frobenius"
        The data term ``D``; ``"kullback-leibler"`` needs ``solver="mu"``.
    init : {None, "nndsvda", "nndsvd", "nndsvdar", "random", "custom"}, default None
        Initial ``W`` and ``H``. ``None``: ``"nndsvda"`` if ``n_components <= min(n_samples,
        n_features)``, else ``"random"`` (scikit-learn's rule). ``"nndsvd"``: NNDSVD (Boutsidis &
        Gallopoulos, Pattern Recognition 41(4), 2008) from a randomized truncated SVD (Halko,
        Martinsson & Tropp, SIAM Review 2011; sparse products in C++), entries below 1e-6 set to
        0; ``"nndsvda"`` / ``"nndsvdar"``: those zeros filled with the mean of ``X`` / with
        ``|mean·N(0,1)|/100``; ``"random"``: ``|N(0,1)|·√(mean/k)``; ``"custom"``: ``W`` and
        ``H`` passed to :meth:`fit`. "The mean of X" is over all cells, or over the stored
        entries with ``missing="ignore"``. Random draws come from ``random_state`` (the same seed
        gives the same factors, though not scikit-learn's numbers).
    alpha_W : float, default 0.0
        ``α_W`` above (>= 0).
    alpha_H : float or "same", default "same"
        ``α_H`` above (>= 0); ``"same"`` uses ``alpha_W``.
    l1_ratio : float, default 0.0
        ``ρ`` above, in [0, 1]: 0 is a pure L2 (Frobenius) penalty, 1 a pure L1 penalty.
    max_iter : int, default 200
        Maximum number of iterations (one iteration updates W, then H).
    tol : float, default 1e-4
        scikit-learn's stopping rule. ``"cd"``: stop once the sum of |projected gradient|
        over W and H falls to ``tol`` times its value at the first iteration. ``"mu"``: every
        10 iterations compute the error e = √(2D); stop once it decreased by less than ``tol``
        times its initial value since the last check. ``tol=0`` runs ``max_iter`` iterations.
        Stopping at ``max_iter`` with ``tol > 0`` warns (:class:`ConvergenceWarning`).
    missing : {"zero", "ignore"}, default "zero"
        ``"zero"``: unstored cells are zeros (scikit-learn). ``"ignore"``: only stored entries
        count; stored zeros are dropped (as everywhere in mfkit), so store observed values as
        positive numbers. Rows or columns without stored entries get zero factors with ``"cd"``
        (and with ``"mu"``, whose updates send them to zero).
    dtype : np.float32 or np.float64, default np.float32
        Precision of the factors and of all arithmetic (scikit-learn follows the dtype of X).
    random_state : None, int or numpy.random.Generator
        Seeds the initialization.
    num_threads : int, default 0
        Threads for the C++ backend; 0 uses all available cores (or ``OMP_NUM_THREADS``).
        Results do not depend on it.
    backend : {"cpp", "reference"}, default "cpp"
        ``"reference"`` runs the pure-numpy twin of the same algorithm (slow; for checking).

    Attributes
    ----------
    user_factors : ndarray (n_samples, n_components)
        ``W`` of the training rows (also returned by :meth:`fit_transform`).
    item_factors : ndarray (n_features, n_components)
        ``Hᵀ``.
    components_ : ndarray (n_components, n_features)
        ``H`` (C-contiguous; computed from ``item_factors``). Assignable (validated; sets
        ``item_factors``), e.g. to transform with another model's ``H``.
    n_iter_ : int
        Iterations done by the last fit.
    reconstruction_err_ : float
        √(2·D) of the fitted factors on the training data: the Frobenius norm ‖X − WH‖ (over
        stored entries with ``missing="ignore"``), or √(2·KL), as scikit-learn.
    """

    _fitted_scalars = ("n_iter_", "reconstruction_err_")
    _format1_scalars = {"_n_iter": "n_iter_", "_reconstruction_err": "reconstruction_err_"}
    _iterations_parameter = "max_iter"
    _parameter_constraints = {
        "n_components": Integer(1),
        "solver": Options("cd", "mu"),
        "beta_loss": Options("frobenius", "kullback-leibler"),
        "init": Options(None, "random", "nndsvd", "nndsvda", "nndsvdar", "custom"),
        "alpha_W": Real(0.0),
        "alpha_H": RealOr(("same",), Real(0.0)),
        "l1_ratio": Real(0.0, 1.0),
        "max_iter": Integer(1),
        "tol": Real(0.0),
        "missing": Options("zero", "ignore"),
        "dtype": DType(),
        "random_state": RandomState(),
        "num_threads": THREADS,
        "backend": BACKEND,
    }

    # Default search space of mfkit.tuning (param -> ("log" | "float" | "int" | "int_log", low,
    # high) or ("categorical", [choices])): rank and penalty (alpha_H follows alpha_W).
    _search_space = {"n_components": ("int_log", 8, 256), "alpha_W": ("log", 1e-4, 1.0),
                     "l1_ratio": ("float", 0.0, 1.0)}

    def __init__(self, n_components, solver="cd", beta_loss="frobenius", init=None, alpha_W=0.0,
                 alpha_H="same", l1_ratio=0.0, max_iter=200, tol=1e-4, missing="zero",
                 dtype=np.float32, random_state=None, num_threads=0, backend="cpp"):
        self.n_components = n_components
        self.solver = solver
        self.beta_loss = beta_loss
        self.init = init
        self.alpha_W = alpha_W
        self.alpha_H = alpha_H
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.missing = missing
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend

    # ------------------------------------------------------------------ parameters
    def _check_params(self, params):
        if params["solver"] == "cd" and params["beta_loss"] != "frobenius":
            raise ValueError(f"solver 'cd' handles only beta_loss='frobenius', got "
                             f"{params['beta_loss']!r}; use solver='mu' for 'kullback-leibler'")
        if params["alpha_H"] == "same":
            params["alpha_H"] = params["alpha_W"]

    @staticmethod
    def _check_X(X, dtype, name: str) -> sp.csr_matrix:
        """Canonical CSR in ``dtype`` (see ``check_user_items``), with no negative entries and
        no value above :func:`value_limit`."""
        matrix = check_user_items(X, dtype, name=name)
        if matrix.nnz and matrix.data.min() < 0:
            raise ValueError(f"Negative values in data passed to NMF: {name} contains negative "
                             f"values ({matrix.data.min():g}); NMF needs non-negative data")
        check_magnitude(matrix.data, value_limit(dtype), name,
                        f"squares of the values must stay finite in {np.dtype(dtype).name} "
                        "and their squares in float64 (the SVD initialization's products)",
                        "scale the values down (e.g. numpy.log1p) or use dtype=np.float64")
        return matrix

    # ------------------------------------------------------------------ fitting
    def fit(self, user_items: Data, y: object = None, *, callback: Callback | None = None,
            show_progress: bool = False, W: ArrayLike | None = None,
            H: ArrayLike | None = None) -> NMF:
        """Factorize ``user_items`` (n_samples × n_features, non-negative).

        Parameters
        ----------
        user_items : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            The data ``X`` (users × items). CSR is used as is; other sparse formats and dense
            arrays are converted once; duplicates are summed and stored zeros dropped on a copy
            (the argument is never modified). Negative values raise ``ValueError``.
        y : ignored
            scikit-learn API (``fit(X, y)`` in a Pipeline or in ``check_estimator``).
        callback : callable, optional
            Called as ``callback(iteration, elapsed_seconds, measure)`` after every iteration
            (0-based), with the seconds that iteration took and the quantity the stopping rule
            tested at it: ``"cd"``: violation / first violation; ``"mu"``: the error √(2D) at
            every 10th iteration (when ``tol > 0``), otherwise ``None``.
        show_progress : bool, default False
            Show a progress bar (like scikit-learn's ``verbose``, off by default).
        W, H : array, optional
            The initial factors for ``init="custom"``: W (n_samples × k), H (k × n_features).

        Returns
        -------
        self
        """
        self._fit(user_items, callback, show_progress, W=W, H=H)
        return self

    def fit_transform(self, X: Data, y: object = None, W: ArrayLike | None = None,
                      H: ArrayLike | None = None, *, callback: Callback | None = None,
                      show_progress: bool = False) -> np.ndarray:
        """:meth:`fit`, returning ``W`` (a copy of ``user_factors``). ``y`` is ignored
        (scikit-learn API)."""
        self._fit(X, callback, show_progress, W=W, H=H)
        return self.user_factors.copy()

    def _prepare(self, X, params, rng, W=None, H=None):
        dtype, missing, loss = params["dtype"], params["missing"], params["beta_loss"]
        X = self._check_X(X, dtype, "user_items")
        largest = float(X.data.max(initial=0.0))
        n, m = X.shape
        by_row = csr_arrays(X)
        by_col = transposed(by_row)
        backend = get_backend(params["backend"])
        threads = resolve_num_threads(params["num_threads"])
        W, Ht = initial_factors(X, by_row, by_col, params, rng, W, H, backend, threads)
        k = params["n_components"]
        # Shortcuts for the Frobenius loss with missing cells as zeros (the other variants read X
        # entry by entry): products X·F and gram matrices handed from step to step. Each step
        # also returns the gram matrix of the factors it updated (computed while they are in
        # cache), which the next step needs of its fixed side.
        shortcuts = loss == "frobenius" and missing == "zero"
        state = SimpleNamespace(
            params=params, backend=backend, threads=threads, by_row=by_row, by_col=by_col, W=W,
            Ht=Ht, penalties_W=penalty_weights(params["alpha_W"], params["l1_ratio"], m),
            penalties_H=penalty_weights(params["alpha_H"], params["l1_ratio"], n),
            common=dict(missing=missing, num_threads=threads), shortcuts=shortcuts, buffers={},
            grams={"W": np.empty((k, k), dtype), "H": np.empty((k, k), dtype)},
            first=0.0, violation=0.0, largest=largest,
            flush=_KL_FLUSH if loss == "kullback-leibler" else 0.0)
        state.initial = self._error(state) if params["solver"] == "mu" and params["tol"] > 0 \
            else 0.0
        state.previous = state.initial
        return state

    @staticmethod
    def _error(state) -> float:
        """√(2D) of the current factors."""
        value = state.backend.nmf_loss(state.by_row, state.W, state.Ht,
                                       beta_loss=state.params["beta_loss"], **state.common)
        return float(np.sqrt(2 * max(value, 0.0)))

    @staticmethod
    def _products(state, other, solved_ptr, fixed, solved_rows):
        """X·F for a step, when it pays to compute it by scattering the rows of the other
        orientation (the solved side is the smaller one: its rows are then written at random in
        cache instead of the fixed factors being read at random); same numbers either way.
        Single-threaded only: split over threads the scatter reads the fixed factors once per
        thread and stops scaling, while the gather inside the step scales with the threads."""
        if not state.shortcuts or state.threads > 1 or solved_rows >= len(fixed):
            return None
        out = state.buffers.setdefault(
            solved_rows, np.empty((solved_rows, fixed.shape[1]), fixed.dtype))
        return state.backend.csr_transpose_matmul(other, solved_ptr, fixed,
                                                  num_threads=state.threads, out=out)

    def _steps(self, state, step: str, iteration: int) -> dict:
        """Keyword arguments of the W (``"W"``) or H step: products and grams."""
        if not state.shortcuts:
            return {}
        n, m = state.by_row.shape
        if step == "W":
            fixed = state.grams["H"] if iteration > 0 else None
            return dict(products=self._products(state, state.by_col, state.by_row.indptr,
                                                state.Ht, n),
                        fixed_gram=fixed, solved_gram=state.grams["W"])
        return dict(products=self._products(state, state.by_row, state.by_col.indptr, state.W, m),
                    fixed_gram=state.grams["W"], solved_gram=state.grams["H"])

    def _iterate(self, state, iteration):
        backend, common = state.backend, state.common
        (l1_W, l2_W), (l1_H, l2_H) = state.penalties_W, state.penalties_H
        if state.params["solver"] == "cd":
            violation = backend.nmf_cd_update(state.by_row, state.Ht, state.W, l1=l1_W, l2=l2_W,
                                              **self._steps(state, "W", iteration), **common)
            violation += backend.nmf_cd_update(state.by_col, state.W, state.Ht, l1=l1_H,
                                               l2=l2_H, **self._steps(state, "H", iteration),
                                               **common)
            state.violation = violation
        else:
            loss = state.params["beta_loss"]
            backend.nmf_mu_update(state.by_row, state.Ht, state.W, beta_loss=loss, l1=l1_W,
                                  l2=l2_W, flush_below=0.0, **self._steps(state, "W", iteration),
                                  **common)
            backend.nmf_mu_update(state.by_col, state.W, state.Ht, beta_loss=loss, l1=l1_H,
                                  l2=l2_H, flush_below=state.flush,
                                  **self._steps(state, "H", iteration), **common)

    def _after_iteration(self, state, iteration):
        """scikit-learn's stopping rules (see ``tol``)."""
        tol = state.params["tol"]
        if state.params["solver"] == "cd":
            if iteration == 0:
                state.first = state.violation
            measure = state.violation / state.first if state.first else 0.0
            return Step(measure, {"violation": measure}, state.first == 0 or measure <= tol)
        if not (tol > 0 and (iteration + 1) % 10 == 0):
            return Step()
        measure = self._error(state) if state.initial > 0 else None
        stop = state.initial == 0 or (state.previous - measure) / state.initial < tol
        state.previous = measure
        return Step(measure, None if measure is None else {"error": measure}, stop)

    def _finite_state(self, state):
        return {"W": state.W, "H": state.Ht}, state.largest

    def _remedy(self, params, largest):
        return (f"the largest value of X is {largest:.3g}: scale the values down (e.g. "
                "log1p) or use dtype=np.float64")

    def _finish(self, state, iterations):
        max_iter, tol = state.params["max_iter"], state.params["tol"]
        if iterations == max_iter and tol > 0:
            warn_caller(f"NMF: maximum number of iterations {max_iter} reached before "
                        f"tol={tol:g}; increase max_iter to improve convergence",
                        ConvergenceWarning)
        return dict(user_factors=state.W, item_factors=state.Ht, n_iter_=iterations,
                    reconstruction_err_=self._error(state))

    # ------------------------------------------------------------------ fitted attributes
    def _fitted_value(self, name):
        value = self.__dict__.get(name)
        if value is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
        return value

    @property
    def components_(self) -> np.ndarray:
        """``H`` (n_components × n_features), C-contiguous, from ``item_factors``."""
        factors = self._fitted_value("item_factors")
        return self._cached("components", factors, lambda f: np.ascontiguousarray(f.T))

    @components_.setter
    def components_(self, H: ArrayLike) -> None:
        """Assign ``H`` (e.g. another fitted model's, as in scikit-learn), stored as
        ``item_factors = Hᵀ`` in the model's dtype. A fitted model keeps its shape; an unfitted
        one takes ``n_components`` rows and any number of features, and then knows no training
        rows (``user_factors`` is empty): :meth:`transform` and fold-in work, ``save`` does not."""
        H = np.asarray(H)
        if H.dtype.kind not in "iuf" or H.ndim != 2:
            raise ValueError(f"components_ must be a 2-D array of real numbers, got "
                             f"{H.ndim}-D {H.dtype}")
        fitted = self.__sklearn_is_fitted__()
        if fitted:
            dtype, expected = self.item_factors.dtype, self.components_.shape
        else:
            params = self._settings()
            dtype, expected = params["dtype"], (params["n_components"], H.shape[1])
        if H.shape != expected:
            raise ValueError(f"components_ must have shape {expected} (n_components, "
                             f"n_features), got {H.shape}")
        if not (np.isfinite(H).all() and (H >= 0).all()):
            raise ValueError("components_ must be finite and non-negative")
        self.item_factors = np.ascontiguousarray(H.T, dtype=dtype)
        if not fitted:
            self.user_factors = np.zeros((0, H.shape[0]), dtype)
            self.user_ids = self.item_ids = None

    def __sklearn_tags__(self):
        """A transformer of non-negative data (its output dtype is ``dtype``, whatever X's)."""
        from sklearn.utils import TransformerTags
        tags = super().__sklearn_tags__()
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        tags.input_tags.positive_only = True
        return tags

    @property
    def n_components_(self) -> int:
        return int(self._fitted_value("item_factors").shape[1])

    @property
    def n_features_in_(self) -> int:
        return int(self._fitted_value("item_factors").shape[0])


    # ------------------------------------------------------------------ transform / fold-in
    def _solve_rows(self, matrix: sp.csr_matrix, fixed: np.ndarray, alpha_name: str,
                    cache_name: str) -> np.ndarray:
        """Factor rows for the rows of ``matrix`` with ``fixed`` constant (scikit-learn's
        ``update_H=False``): ``"cd"`` starts from zeros, ``"mu"`` from √(mean/k) everywhere."""
        params = self._settings()
        backend, threads = self._backend(), self._threads()
        k = fixed.shape[1]
        l1, l2 = penalty_weights(params[alpha_name], params["l1_ratio"], len(fixed))
        if params["solver"] == "cd":
            solved = np.zeros((matrix.shape[0], k), dtype=fixed.dtype)
        else:
            start = np.sqrt(data_mean(matrix, params["missing"]) / k)
            solved = np.full((matrix.shape[0], k), start, dtype=fixed.dtype)
        gram = None
        if params["beta_loss"] == "frobenius" and params["missing"] == "zero":
            gram = self._cached(cache_name, fixed,
                                lambda f: backend.nmf_gram(f, num_threads=threads))
        n_iter = backend.nmf_solve(
            csr_arrays(matrix), fixed, gram, solved, solver=params["solver"],
            beta_loss=params["beta_loss"], l1=l1, l2=l2, missing=params["missing"],
            max_iter=params["max_iter"], tol=params["tol"], num_threads=threads)
        if n_iter == params["max_iter"] and params["tol"] > 0:
            warn_caller(f"NMF transform: maximum number of iterations {params['max_iter']} "
                        f"reached before tol={params['tol']:g}; increase max_iter",
                        ConvergenceWarning)
        return solved

    def transform(self, X: Data) -> np.ndarray:
        """``W`` for the rows of ``X`` (n × n_features) with ``H`` fixed, as scikit-learn's
        ``transform``: the same penalties (scaled by n_features) and the same solver and stopping
        rule as the fit, run entirely in C++ with ``HHᵀ`` cached between calls."""
        self._check_fitted()
        X, _ = unwrap_interactions(X)
        matrix = self._check_X(X, self.item_factors.dtype, "X")
        if matrix.shape[1] != len(self.item_factors):
            raise ValueError(f"X has {matrix.shape[1]} columns, but the model was fitted on "
                             f"{len(self.item_factors)} features")
        solved = self._solve_rows(matrix, self.item_factors, "alpha_W", "item_gram")
        self._check_solved({"W": solved}, matrix, "rows of X")
        return solved

    def inverse_transform(self, W: ArrayLike) -> np.ndarray:
        """``W @ H``: the data that rows ``W`` (n × n_components) reconstruct (dense)."""
        self._check_fitted()
        if not sp.issparse(W):
            W = np.asarray(W)
        if W.ndim != 2 or W.shape[1] != self.n_components_:
            raise ValueError(f"W must be 2-D with {self.n_components_} columns, got shape "
                             f"{W.shape}")
        return np.asarray(W @ self.components_)

    def _fold_in_users(self, user_items) -> np.ndarray:
        """W of the given rows with H fixed (``recommend(..., recalculate_user=True)``,
        ``partial_fit_users``): exactly :meth:`transform`."""
        matrix = self._check_X(user_items, self.item_factors.dtype, "user_items")
        return self._solve_rows(matrix, self.item_factors, "alpha_W", "item_gram")

    def _fold_in_items(self, item_users) -> np.ndarray:
        """Hᵀ rows of the given items (rows: items, columns: users) with W fixed, the mirror
        of :meth:`transform` (penalty α_H scaled by n_samples)."""
        matrix = self._check_X(item_users, self.user_factors.dtype, "item_users")
        return self._solve_rows(matrix, self.user_factors, "alpha_H", "user_gram")

    # ------------------------------------------------------------------ objective
    def loss(self, user_items: Data, user_factors: ArrayLike | None = None) -> float:
        """The full objective (data term plus penalties) of ``W = user_factors`` (default: the
        fitted one) and the fitted ``H`` on ``user_items``, with the penalties scaled by its
        shape as in :meth:`fit`. With new rows and their :meth:`transform`, this is what the
        transform minimized (plus a constant H penalty)."""
        self._check_fitted()
        params = self._settings()
        dtype = params["dtype"]
        matrix = self._check_X(unwrap_interactions(user_items)[0], dtype, "user_items")
        n, m = matrix.shape
        if m != len(self.item_factors):
            raise ValueError(f"user_items has {m} columns, but the model was fitted on "
                             f"{len(self.item_factors)} features")
        W = self.user_factors if user_factors is None else np.ascontiguousarray(
            user_factors, dtype=dtype)
        if W.shape != (n, self.n_components_):
            raise ValueError(f"user_factors must have shape {(n, self.n_components_)}, "
                             f"got {W.shape}")
        H = self.item_factors
        data = self._backend().nmf_loss(
            csr_arrays(matrix), W, H, beta_loss=params["beta_loss"], missing=params["missing"],
            num_threads=self._threads())
        total = float(data)
        for factor, alpha, other in ((W, params["alpha_W"], m), (H, params["alpha_H"], n)):
            total += penalty(factor, *penalty_weights(alpha, params["l1_ratio"], other))
        return total
