"""Non-negative matrix factorization with scikit-learn's objective, and fold-in of new users."""
from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import scipy.sparse as sp

from .._base import Recommender, get_backend, unwrap_interactions
from .._progress import progress_bar
from .._threads import resolve_num_threads
from .._validation import (
    check_bool,
    check_callback,
    check_choice,
    check_dtype,
    check_float,
    check_int,
    check_random_state,
    check_user_items,
    csr_arrays,
)
from ..exceptions import NotFittedError

__all__ = ["NMF", "ConvergenceWarning"]

_INITS = (None, "random", "nndsvd", "nndsvda", "nndsvdar", "custom")
# NNDSVD entries below this are truncated to 0 before filling (as scikit-learn).
_NNDSVD_TRUNCATE = 1e-6
# H entries below this are flushed to 0 after each KL multiplicative step (as scikit-learn).
_KL_FLUSH = float(np.finfo(np.float64).eps)


def _single_threaded_blas():
    """BLAS held at one thread (when threadpoolctl is installed) while the initialization mixes
    numpy products with OpenMP regions: on few cores, BLAS threads spinning next to the OpenMP
    team slow both down many times over."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, "blas")


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
        ``H`` (C-contiguous; computed from ``item_factors``).
    n_iter_ : int
        Iterations done by the last fit.
    reconstruction_err_ : float
        √(2·D) of the fitted factors on the training data: the Frobenius norm ‖X − WH‖ (over
        stored entries with ``missing="ignore"``), or √(2·KL), as scikit-learn.
    """

    _fitted_arrays = ("user_factors", "item_factors", "_n_iter", "_reconstruction_err")

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
    def _validated_params(self) -> dict:
        solver = check_choice(self.solver, "solver", ("cd", "mu"))
        beta_loss = check_choice(self.beta_loss, "beta_loss", ("frobenius", "kullback-leibler"))
        if solver == "cd" and beta_loss != "frobenius":
            raise ValueError(f"solver 'cd' handles only beta_loss='frobenius', got {beta_loss!r}; "
                             "use solver='mu' for 'kullback-leibler'")
        if isinstance(self.alpha_H, str):
            alpha_H = check_choice(self.alpha_H, "alpha_H", ("same",))
        else:
            alpha_H = check_float(self.alpha_H, "alpha_H", 0.0)
        alpha_W = check_float(self.alpha_W, "alpha_W", 0.0)
        l1_ratio = check_float(self.l1_ratio, "l1_ratio", 0.0)
        if l1_ratio > 1:
            raise ValueError(f"l1_ratio must be in [0, 1], got {l1_ratio}")
        return dict(
            n_components=check_int(self.n_components, "n_components", 1),
            solver=solver,
            beta_loss=beta_loss,
            init=check_choice(self.init, "init", _INITS),
            alpha_W=alpha_W,
            alpha_H=alpha_W if alpha_H == "same" else alpha_H,
            l1_ratio=l1_ratio,
            max_iter=check_int(self.max_iter, "max_iter", 1),
            tol=check_float(self.tol, "tol", 0.0),
            missing=check_choice(self.missing, "missing", ("zero", "ignore")),
            dtype=check_dtype(self.dtype),
            num_threads=check_int(self.num_threads, "num_threads", 0),
            backend=check_choice(self.backend, "backend", ("cpp", "reference")),
        )

    @staticmethod
    def _penalties(alpha: float, l1_ratio: float, other_side: int):
        """(l1, l2) of one factor: scikit-learn scales α by the size of the *other* dimension
        (n_features for W, n_samples for H)."""
        return alpha * l1_ratio * other_side, alpha * (1.0 - l1_ratio) * other_side

    @staticmethod
    def _check_X(X, dtype, name: str) -> sp.csr_matrix:
        """Canonical CSR in ``dtype`` (see ``check_user_items``), with no negative entries."""
        matrix = check_user_items(X, dtype, name=name)
        if matrix.nnz and matrix.data.min() < 0:
            raise ValueError(f"{name} contains negative values ({matrix.data.min():g}); "
                             "NMF needs non-negative data")
        return matrix

    @staticmethod
    def _mean(matrix: sp.csr_matrix, missing: str) -> float:
        """Mean of all cells, or of the stored entries with ``missing="ignore"``."""
        total = float(matrix.data.sum(dtype=np.float64))
        count = matrix.nnz if missing == "ignore" else matrix.shape[0] * matrix.shape[1]
        return total / count if count else 0.0

    # ------------------------------------------------------------------ initialization
    @staticmethod
    def _custom_factor(value, shape, name, dtype) -> np.ndarray:
        if value is None:
            raise ValueError(f"init='custom' needs {name}: pass fit(X, W=..., H=...)")
        if sp.issparse(value):
            raise TypeError(f"{name} must be a dense array")
        array = np.asarray(value)
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
                or np.iscomplexobj(array):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if array.size and array.min() < 0:
            raise ValueError(f"{name} contains negative values")
        if not array.any():
            raise ValueError(f"{name} is all zeros")
        return np.array(array, dtype=dtype, order="C", copy=True)

    @staticmethod
    def _truncated_svd(by_row, by_col, k, rng, backend, threads, dtype):
        """Top-``k`` singular triplets ``(U, S, Vt)`` of X by randomized subspace iteration
        (Halko, Martinsson & Tropp, SIAM Review 53(2), 2011, Alg. 4.4 and §4.5).

        With X oriented as A (long side × short side), a basis Z of the short side (at least
        k + 10 columns, rounded up to whole 16-column chunks of the C++ products; Gaussian start)
        goes through 7 steps Z ← Aᵀ(A Z) (4 when ``k`` >= 10% of the short side),
        re-orthonormalized before each; then Y = A Z = U Σ (Z V)ᵀ restricted to Z is decomposed
        through the eigenvectors of YᵀY. Only the short-side basis is ever orthonormalized
        (cheap, float64, through its Gram matrix), and X stays sparse: the products with it run
        in C++ (A Z by gathering rows of Z; Aᵀ Y by scattering rows of Y on one thread, by
        gathering over Aᵀ on several, which scales better).
        """
        n, m = by_row.shape
        A, At = (by_row, by_col) if n >= m else (by_col, by_row)
        short = A.shape[1]
        size = min(-(-(k + 10) // 16) * 16, short)  # ≥ 10 extra, whole 16-column chunks
        steps = 7 if k < 0.1 * min(n, m) else 4

        def orthonormalize(Z, passes=1):
            for _ in range(passes):  # a second pass repairs the first one's rounding
                w, V = np.linalg.eigh(Z.T @ Z)
                w = np.maximum(w, max(w[-1], 1e-300) * 1e-12)
                Z = Z @ (V / np.sqrt(w))
            return Z

        def times(Z):  # A Z, model dtype
            return backend.csr_matmul(A, np.ascontiguousarray(Z, dtype=dtype), num_threads=threads)

        def transposed_times(Y):  # Aᵀ Y, float64
            if threads > 1:
                product = backend.csr_matmul(At, Y, num_threads=threads)
            else:
                product = backend.csr_transpose_matmul(A, At.indptr, Y, num_threads=threads)
            return product.astype(np.float64)

        Z = rng.standard_normal((short, size))
        for _ in range(steps):
            Z = transposed_times(times(orthonormalize(Z)))
        Z = orthonormalize(Z, passes=2)
        Y = times(Z)  # model dtype: its gram and Y V below in that precision are ample here
        w, V = np.linalg.eigh((Y.T @ Y).astype(np.float64))
        order = np.argsort(w)[::-1][:k]
        S = np.sqrt(np.maximum(w[order], 0))
        V = V[:, order]
        scale = np.where(S > S[0] * 1e-7, 1 / np.where(S > 0, S, 1), 0) if S[0] > 0 else 0 * S
        U_long = (Y @ V.astype(Y.dtype)) * scale
        V_short = Z @ V
        return (U_long, S, V_short.T) if n >= m else (V_short, S, U_long.T)

    def _initialize(self, X, by_row, by_col, params, rng, W, H, backend, threads):
        """Initial ``(W, Hᵀ)``, both C-contiguous in the model dtype."""
        init, k, dtype = params["init"], params["n_components"], params["dtype"]
        n, m = X.shape
        if init != "custom" and (W is not None or H is not None):
            warnings.warn("W and H are used only with init='custom'; ignoring them",
                          RuntimeWarning, stacklevel=4)
        if init == "custom":
            W = self._custom_factor(W, (n, k), "W", dtype)
            H = self._custom_factor(H, (k, m), "H", dtype)
            return W, np.ascontiguousarray(H.T)
        if init is None:
            init = "nndsvda" if k <= min(n, m) else "random"
        mean = self._mean(X, params["missing"])
        if init == "random":
            scale = np.sqrt(mean / k)
            H = np.abs(scale * rng.standard_normal((m, k)))  # Hᵀ
            W = np.abs(scale * rng.standard_normal((n, k)))
            return W.astype(dtype), H.astype(dtype)
        if k > min(n, m):
            raise ValueError(f"init={init!r} needs n_components <= min(n_samples, n_features) = "
                             f"{min(n, m)}, got {k}; use init='random'")
        if params["solver"] == "mu" and init == "nndsvd":
            warnings.warn("the multiplicative update ('mu') solver cannot update the zeros of "
                          "init='nndsvd'; init='nndsvda' or 'nndsvdar' usually fit better",
                          UserWarning, stacklevel=4)
        with _single_threaded_blas():
            U, S, Vt = self._truncated_svd(by_row, by_col, k, rng, backend, threads, dtype)
        # NNDSVD (Boutsidis & Gallopoulos 2008): the leading pair as is (it is non-negative up
        # to sign); for every other pair, the positive or the negative parts of (u_j, v_j),
        # whichever has the larger product of norms, scaled by √(σ_j · that product). All pairs
        # at once; the choice is symmetric in the sign of the pair.
        U, V = U.astype(np.float64, copy=False), Vt.T.astype(np.float64)

        def part_norms(M):  # column norms of the positive and of the negative parts
            positive = np.maximum(M, 0)
            pos = np.einsum("ij,ij->j", positive, positive)
            neg = np.einsum("ij,ij->j", M, M) - pos
            return np.sqrt(pos), np.sqrt(np.maximum(neg, 0))

        (pu, nu), (pv, nv) = part_norms(U), part_norms(V)
        positive = pu * pv > nu * nv
        sign = np.where(positive, 1.0, -1.0)
        sigma = np.where(positive, pu * pv, nu * nv)
        nx, ny = np.where(positive, pu, nu), np.where(positive, pv, nv)
        scale = np.sqrt(S * sigma)
        ok = sigma > 0
        W = np.maximum(U * sign, 0)
        W *= np.where(ok, scale / np.where(ok, nx, 1), 0)
        H = np.maximum(V * sign, 0)  # Hᵀ
        H *= np.where(ok, scale / np.where(ok, ny, 1), 0)
        W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
        H[:, 0] = np.sqrt(S[0]) * np.abs(V[:, 0])
        W[W < _NNDSVD_TRUNCATE] = 0
        H[H < _NNDSVD_TRUNCATE] = 0
        if init == "nndsvda":
            W[W == 0] = mean
            H[H == 0] = mean
        elif init == "nndsvdar":
            W[W == 0] = np.abs(mean * rng.standard_normal(np.count_nonzero(W == 0)) / 100)
            H[H == 0] = np.abs(mean * rng.standard_normal(np.count_nonzero(H == 0)) / 100)
        return W.astype(dtype), H.astype(dtype)

    # ------------------------------------------------------------------ fitting
    def fit(self, user_items, callback=None, show_progress=True, *, W=None, H=None):
        """Factorize ``user_items`` (n_samples × n_features, non-negative).

        Parameters
        ----------
        user_items : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            The data ``X`` (users × items). CSR is used as is; other sparse formats and dense
            arrays are converted once; duplicates are summed and stored zeros dropped on a copy
            (the argument is never modified). Negative values raise ``ValueError``.
        callback : callable, optional
            Called as ``callback(iteration, elapsed_seconds, measure)`` after every iteration
            (0-based), with the seconds that iteration took and the quantity the stopping rule
            tested at it: ``"cd"``: violation / first violation; ``"mu"``: the error √(2D) at
            every 10th iteration (when ``tol > 0``), otherwise ``None``.
        show_progress : bool, default True
            Show a progress bar (tqdm when installed).
        W, H : array, optional
            The initial factors for ``init="custom"``: W (n_samples × k), H (k × n_features).

        Returns
        -------
        self
        """
        self._fit(user_items, W, H, callback, show_progress)
        return self

    def fit_transform(self, X, y=None, W=None, H=None, *, callback=None, show_progress=True):
        """:meth:`fit`, returning ``W`` (a copy of ``user_factors``). ``y`` is ignored
        (scikit-learn API)."""
        self._fit(X, W, H, callback, show_progress)
        return self.user_factors.copy()

    def _fit(self, X, W, H, callback, show_progress):
        params = self._validated_params()
        check_callback(callback)
        show_progress = check_bool(show_progress, "show_progress")
        rng = check_random_state(self.random_state)
        self.__dict__.pop("_cache", None)
        dtype, missing, loss = params["dtype"], params["missing"], params["beta_loss"]
        X, raw_ids = unwrap_interactions(X)
        X = self._check_X(X, dtype, "user_items")
        n, m = X.shape
        by_row = csr_arrays(X)
        by_col = csr_arrays(X.T.tocsr())
        backend = get_backend(params["backend"])
        threads = resolve_num_threads(params["num_threads"])
        W, Ht = self._initialize(X, by_row, by_col, params, rng, W, H, backend, threads)

        l1_W, l2_W = self._penalties(params["alpha_W"], params["l1_ratio"], m)
        l1_H, l2_H = self._penalties(params["alpha_H"], params["l1_ratio"], n)
        common = dict(missing=missing, num_threads=threads)
        max_iter, tol = params["max_iter"], params["tol"]

        def error():
            value = backend.nmf_loss(by_row, W, Ht, beta_loss=loss, **common)
            return float(np.sqrt(2 * max(value, 0.0)))

        # Shortcuts for the Frobenius loss with missing cells as zeros (the other variants read X
        # entry by entry): products X·F and gram matrices handed from step to step.
        shortcuts = loss == "frobenius" and missing == "zero"

        # X·F for a step, when it pays to compute it by scattering the rows of the other
        # orientation (the solved side is the smaller one: its rows are then written at random
        # in cache instead of the fixed factors being read at random); same numbers either way.
        # Single-threaded only: split over threads the scatter reads the fixed factors once per
        # thread and stops scaling, while the gather inside the step scales with the threads.
        buffers = {}

        def products(other, solved_ptr, fixed, solved_rows):
            if not shortcuts or threads > 1 or solved_rows >= len(fixed):
                return None
            out = buffers.setdefault(solved_rows, np.empty((solved_rows, fixed.shape[1]), dtype))
            return backend.csr_transpose_matmul(other, solved_ptr, fixed, num_threads=threads,
                                                out=out)

        # Each step also returns the gram matrix of the factors it updated (computed while
        # they are in cache), which the next step needs of its fixed side.
        k = params["n_components"]
        grams = {"W": np.empty((k, k), dtype), "H": np.empty((k, k), dtype)} if shortcuts else None

        def steps(step):
            """Keyword arguments of the W (``"W"``) or H step: products and grams."""
            if grams is None:
                return {}
            if step == "W":
                fixed = grams["H"] if n_iter > 1 else None
                return dict(products=products(by_col, by_row.indptr, Ht, n), fixed_gram=fixed,
                            solved_gram=grams["W"])
            return dict(products=products(by_row, by_col.indptr, W, m), fixed_gram=grams["W"],
                        solved_gram=grams["H"])

        bar = progress_bar(max_iter, "NMF", show_progress)
        try:
            if params["solver"] == "cd":
                first = 0.0
                for n_iter in range(1, max_iter + 1):
                    start = time.perf_counter()
                    violation = backend.nmf_cd_update(by_row, Ht, W, l1=l1_W, l2=l2_W,
                                                      **steps("W"), **common)
                    violation += backend.nmf_cd_update(by_col, W, Ht, l1=l1_H, l2=l2_H,
                                                       **steps("H"), **common)
                    elapsed = time.perf_counter() - start
                    if n_iter == 1:
                        first = violation
                    measure = violation / first if first else 0.0
                    bar.update(violation=measure)
                    if callback is not None:
                        callback(n_iter - 1, elapsed, measure)
                    if first == 0 or measure <= tol:
                        break
            else:
                initial = error() if tol > 0 else 0.0
                previous = initial
                flush = _KL_FLUSH if loss == "kullback-leibler" else 0.0
                for n_iter in range(1, max_iter + 1):
                    start = time.perf_counter()
                    backend.nmf_mu_update(by_row, Ht, W, beta_loss=loss, l1=l1_W, l2=l2_W,
                                          flush_below=0.0, **steps("W"), **common)
                    backend.nmf_mu_update(by_col, W, Ht, beta_loss=loss, l1=l1_H, l2=l2_H,
                                          flush_below=flush, **steps("H"), **common)
                    elapsed = time.perf_counter() - start
                    measure = None
                    if tol > 0 and n_iter % 10 == 0 and initial > 0:
                        measure = error()
                    bar.update(**({} if measure is None else {"error": measure}))
                    if callback is not None:
                        callback(n_iter - 1, elapsed, measure)
                    if tol > 0 and n_iter % 10 == 0:
                        if initial == 0 or (previous - measure) / initial < tol:
                            break
                        previous = measure
        finally:
            bar.close()
        if n_iter == max_iter and tol > 0:
            warnings.warn(f"NMF: maximum number of iterations {max_iter} reached before "
                          f"tol={tol:g}; increase max_iter to improve convergence",
                          ConvergenceWarning, stacklevel=3)

        self.user_factors = W
        self.item_factors = Ht
        self._n_iter = np.array(n_iter, dtype=np.int64)
        self._reconstruction_err = np.array(error(), dtype=np.float64)
        self.user_ids, self.item_ids = raw_ids

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

    @property
    def n_components_(self) -> int:
        return int(self._fitted_value("item_factors").shape[1])

    @property
    def n_features_in_(self) -> int:
        return int(self._fitted_value("item_factors").shape[0])

    @property
    def n_iter_(self) -> int:
        return int(self._fitted_value("_n_iter"))

    @property
    def reconstruction_err_(self) -> float:
        return float(self._fitted_value("_reconstruction_err"))

    # ------------------------------------------------------------------ transform / fold-in
    def _solve_rows(self, matrix: sp.csr_matrix, fixed: np.ndarray, alpha_name: str,
                    cache_name: str, stacklevel: int) -> np.ndarray:
        """Factor rows for the rows of ``matrix`` with ``fixed`` constant (scikit-learn's
        ``update_H=False``): ``"cd"`` starts from zeros, ``"mu"`` from √(mean/k) everywhere."""
        params = self._validated_params()
        backend = get_backend(params["backend"])
        threads = resolve_num_threads(params["num_threads"])
        k = fixed.shape[1]
        l1, l2 = self._penalties(params[alpha_name], params["l1_ratio"], len(fixed))
        if params["solver"] == "cd":
            solved = np.zeros((matrix.shape[0], k), dtype=fixed.dtype)
        else:
            start = np.sqrt(self._mean(matrix, params["missing"]) / k)
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
            warnings.warn(f"NMF transform: maximum number of iterations {params['max_iter']} "
                          f"reached before tol={params['tol']:g}; increase max_iter",
                          ConvergenceWarning, stacklevel=stacklevel)
        return solved

    def transform(self, X) -> np.ndarray:
        """``W`` for the rows of ``X`` (n × n_features) with ``H`` fixed, as scikit-learn's
        ``transform``: the same penalties (scaled by n_features) and the same solver and stopping
        rule as the fit, run entirely in C++ with ``HHᵀ`` cached between calls."""
        self._check_fitted()
        X, _ = unwrap_interactions(X)
        matrix = self._check_X(X, self.item_factors.dtype, "X")
        if matrix.shape[1] != len(self.item_factors):
            raise ValueError(f"X has {matrix.shape[1]} columns, but the model was fitted on "
                             f"{len(self.item_factors)} features")
        return self._solve_rows(matrix, self.item_factors, "alpha_W", "item_gram", 3)

    def inverse_transform(self, W) -> np.ndarray:
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
        return self._solve_rows(matrix, self.item_factors, "alpha_W", "item_gram", 4)

    def _fold_in_items(self, item_users) -> np.ndarray:
        """Hᵀ rows of the given items (rows: items, columns: users) with W fixed, the mirror
        of :meth:`transform` (penalty α_H scaled by n_samples)."""
        matrix = self._check_X(item_users, self.user_factors.dtype, "item_users")
        return self._solve_rows(matrix, self.user_factors, "alpha_H", "user_gram", 4)

    # ------------------------------------------------------------------ objective
    def loss(self, user_items, user_factors=None) -> float:
        """The full objective (data term plus penalties) of ``W = user_factors`` (default: the
        fitted one) and the fitted ``H`` on ``user_items``, with the penalties scaled by its
        shape as in :meth:`fit`. With new rows and their :meth:`transform`, this is what the
        transform minimized (plus a constant H penalty)."""
        self._check_fitted()
        params = self._validated_params()
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
        data = get_backend(params["backend"]).nmf_loss(
            csr_arrays(matrix), W, H, beta_loss=params["beta_loss"], missing=params["missing"],
            num_threads=resolve_num_threads(params["num_threads"]))
        total = float(data)
        for factor, alpha, other in ((W, params["alpha_W"], m), (H, params["alpha_H"], n)):
            l1, l2 = self._penalties(alpha, params["l1_ratio"], other)
            f64 = factor.astype(np.float64)
            total += l1 * float(f64.sum()) + 0.5 * l2 * float(np.sum(f64 * f64))
        return total
