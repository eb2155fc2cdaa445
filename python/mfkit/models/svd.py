"""Spectral recommender: truncated SVD of the degree-normalized interactions (normalized PureSVD,
the ideal low-pass filter of GF-CF)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike
from threadpoolctl import threadpool_limits

from .._base import Recommender, get_backend
from .._containers import CsrArrays
from .._csr import csr_arrays, transposed
from .._params import BACKEND, THREADS, DType, Integer, RandomState, Real
from .._randomized_svd import SubspaceIteration
from .._ranking import score_blocks
from .._threads import resolve_num_threads
from .._typing import Callback, Data, Ids, Ranked, Rows
from .._validation import check_bool, check_ids, check_int, check_magnitude, check_user_items
from ..reference.svd import degree_power, item_item_scores, normalized_values, svd_factors


class SVD(Recommender):
    """Top-k SVD of the normalized interactions, served as a low-pass filter.

    Fits the ``factors`` leading right singular vectors V of ::

        R̃ = D_U^{-γ} R D_I^{-β}

    where ``D_U`` / ``D_I`` hold the row / column sums of the interactions ``R`` (γ =
    ``user_exponent``, β = ``item_exponent``; γ = β = 0 is PureSVD, Cremonesi et al., RecSys
    2010; γ = β = ½ the ideal low-pass filter of GF-CF, Shen et al., CIKM 2021), by randomized
    subspace iteration on the sparse matrix (Halko, Martinsson & Tropp 2011, Alg. 4.4: a Gaussian
    basis, ``power_iterations`` steps re-orthonormalized before each, Rayleigh–Ritz at the end;
    the products with R̃ run in the backend). The score of item ``i`` for a user with history row
    ``r_u`` is the filter ::

        s_u = r_u D_I^{-β} V Vᵀ D_I^{β} · diag(d_I^δ)

    with a popularity exponent δ on the final scores, plus, with ``item_item_weight`` w > 0,
    GF-CF's linear filter (Shen et al. 2021, eq. 7), ``w · r_u ŘᵀŘ · diag(d_I^δ)`` with
    ``Ř = D_U^{-½} R D_I^{-½}`` (see ``item_item_weight``). The user factor is therefore a
    projection, ``x_u = r_u D_I^{-β} V`` (``r_u @ item_projection``), and the item factors are
    ``D_I^{β+δ} V``: any user, new or known, is folded in exactly without refitting, and
    ``partial_fit_users`` sets exactly the factors a refit would give those rows. Items are not
    folded in (the basis V is fixed by the fit): ``partial_fit_items`` and
    ``similar_items(recalculate_item=True)`` raise ``NotImplementedError``.

    Parameters
    ----------
    factors : int, default 256
        Number of singular vectors ``k`` (at most the smaller side of the data).
    user_exponent, item_exponent : float, default 0.25, 0.35
        γ and β above (>= 0, at most 2). Rows / columns without interactions take no part
        (their weight is 0) and score 0. The defaults (with ``popularity_exponent``) were
        chosen on Amazon Beauty's validation split (``benchmarks/bench_svd.py --quality``,
        results in ``benchmarks/RESULTS.md``): Recall@20 moves a lot with β (256 factors,
        γ = ½: 0.054 at β = ½, 0.079 at 0.35, 0.001 at 0.75); tune β first on other data.
    popularity_exponent : float, default -0.1
        δ above: scores are multiplied by ``d_i^δ`` (the item's number of training
        interactions); negative values favour rare items.
    item_item_weight : float, default 0.0
        w above (>= 0): adds the item–item term ``r_u ŘᵀŘ``, computed at serving time from the
        user's history row by two sparse products per block of users (``(r_u Řᵀ) Ř``; no
        items × items matrix is formed), so the model keeps Ř (one copy of the training
        interactions, saved with it) and ``recommend`` needs ``user_items`` (its rows are the
        histories). This term does not fit a dot product: ``mfkit.evaluation`` (which ranks by
        factors) refuses such a model, and ``similar_items`` / ``similar_users`` use the factors
        only. It needs no refit to change.
    power_iterations : int, default 4
        Power steps of the subspace iteration (the fit's iterations; >= 0). More steps give a
        more accurate basis for small gaps between singular values.
    oversampling : int, default 10
        Extra basis columns beyond ``factors`` (rounded up to whole 16-column chunks of the C++
        products, at most the smaller side of the data).
    dtype : np.float32 or np.float64, default np.float32
        Precision of the factors and of the products with the interactions (the basis is kept
        in float64).
    random_state : None, int or numpy.random.Generator
        Seeds the Gaussian start basis; the same value gives identical factors.
    num_threads : int, default 0
        Threads for the C++ products; 0 uses all available cores. Results do not depend on it.
    backend : {"cpp", "reference"}, default "cpp"
        ``"reference"`` runs the products in numpy / scipy (slow; for checking).

    Attributes
    ----------
    user_factors : ndarray (n_users, factors)
        ``R D_I^{-β} V``: the projections of the training rows.
    item_factors : ndarray (n_items, factors)
        ``D_I^{β+δ} V``.
    item_projection : ndarray (n_items, factors)
        ``D_I^{-β} V``: a history row times this is the user's factor.
    singular_values : ndarray (factors,)
        The singular values of R̃, decreasing (float64).
    item_degrees : ndarray (n_items,)
        ``d_I``, the training interactions of every item.
    normalized_indptr, normalized_indices, normalized_data : ndarray
        Ř (training users × items) in CSR form, for the item–item term.
    """

    _fitted_arrays = ("user_factors", "item_factors", "item_projection", "singular_values",
                      "item_degrees", "normalized_indptr", "normalized_indices", "normalized_data")
    _iterations_parameter = "power_iterations"
    _parameter_constraints = {
        "factors": Integer(1),
        "user_exponent": Real(0.0, 2.0),
        "item_exponent": Real(0.0, 2.0),
        "popularity_exponent": Real(-2.0, 2.0),
        "item_item_weight": Real(0.0),
        "power_iterations": Integer(0, 100),
        "oversampling": Integer(0, 1 << 20),
        "dtype": DType(),
        "random_state": RandomState(),
        "num_threads": THREADS,
        "backend": BACKEND,
    }
    # Ranges for hyper-parameter search (mfkit.tuning): name -> (kind, low, high) / choices.
    # Not item_item_weight: mfkit.evaluation ranks by factors and refuses that term.
    _search_space = {
        "factors": ("int_log", 32, 1024),
        "user_exponent": ("float", 0.0, 1.0),
        "item_exponent": ("float", 0.0, 1.0),
        "popularity_exponent": ("float", -0.5, 0.5),
    }

    def __init__(self, factors=256, user_exponent=0.25, item_exponent=0.35,
                 popularity_exponent=-0.1, item_item_weight=0.0, power_iterations=4,
                 oversampling=10, dtype=np.float32, random_state=None, num_threads=0,
                 backend="cpp"):
        self.factors = factors
        self.user_exponent = user_exponent
        self.item_exponent = item_exponent
        self.popularity_exponent = popularity_exponent
        self.item_item_weight = item_item_weight
        self.power_iterations = power_iterations
        self.oversampling = oversampling
        self.dtype = dtype
        self.random_state = random_state
        self.num_threads = num_threads
        self.backend = backend

    def fit(self, user_items: Data, callback: Callback | None = None,
            show_progress: bool = True) -> SVD:
        """Fit the singular vectors of the normalized ``user_items`` (users × items).

        Parameters
        ----------
        user_items : scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
            Non-negative interaction weights (e.g. 1 per interaction); CSR is used as is, other
            formats are converted once. Duplicates are summed and stored zeros dropped, on a
            copy: the argument is never modified.
        callback : callable, optional
            Called as ``callback(iteration, elapsed_seconds, None)`` after every power step.
        show_progress : bool, default True
            Show a progress bar (unless off globally: ``mfkit.set_config``).

        Returns
        -------
        self
        """
        return super().fit(user_items, callback, show_progress)

    def _prepare(self, user_items, params, rng):
        dtype, k = params["dtype"], params["factors"]
        matrix = check_user_items(user_items, dtype)
        if matrix.nnz and matrix.data.min() < 0:
            raise ValueError(f"user_items contains negative values ({matrix.data.min():g}); SVD "
                             "normalizes by row and column sums and needs non-negative "
                             "interaction weights")
        # Row / column sums must stay finite in float64, and R̃ in the model dtype.
        check_magnitude(matrix.data, float(np.finfo(dtype).max) / max(matrix.shape, default=1),
                        "user_items", "its row and column sums would overflow",
                        "scale the values down (e.g. numpy.log1p)")
        if k > min(matrix.shape):
            raise ValueError(f"factors must be at most min(n_users, n_items) = "
                             f"{min(matrix.shape)} for user_items of shape {matrix.shape}, got {k}")
        raw = csr_arrays(matrix)
        user_degrees = np.asarray(matrix.sum(axis=1, dtype=np.float64)).ravel()
        item_degrees = np.asarray(matrix.sum(axis=0, dtype=np.float64)).ravel()
        values = normalized_values(raw.indptr, raw.indices, raw.data,
                                   degree_power(user_degrees, -params["user_exponent"]),
                                   degree_power(item_degrees, -params["item_exponent"]))
        by_user = CsrArrays(raw.indptr, raw.indices, values.astype(dtype), raw.shape)
        threads = resolve_num_threads(params["num_threads"])
        backend = get_backend(params["backend"])
        iteration = SubspaceIteration(by_user, transposed(by_user), backend, threads, dtype)
        size = min(-(-(k + params["oversampling"]) // 16) * 16, iteration.short)
        item_item = normalized_values(raw.indptr, raw.indices, raw.data,
                                      degree_power(user_degrees, -0.5),
                                      degree_power(item_degrees, -0.5)).astype(dtype)
        return SimpleNamespace(raw=raw, item_degrees=item_degrees, item_item=item_item,
                               iteration=iteration, basis=iteration.start(size, rng),
                               params=params, backend=backend, threads=threads,
                               largest=float(np.abs(raw.data).max(initial=0.0)))

    def _iterate(self, state, iteration):
        # BLAS at one thread next to the OpenMP products (see _nmf_init), which also keeps the
        # basis independent of the thread count.
        with threadpool_limits(1, "blas"):
            state.basis = state.iteration.step(state.basis)

    def _finite_state(self, state):
        return dict(basis=state.basis), state.largest

    def _remedy(self, params, largest):
        return (f"the interaction values (up to {largest:.3g}) are too large for the arithmetic: "
                "scale them down" + (" or use dtype=np.float64"
                                     if np.dtype(params["dtype"]) == np.float32 else ""))

    def _finish(self, state, iterations):
        params = state.params
        dtype = np.dtype(params["dtype"])
        with threadpool_limits(1, "blas"):
            _, singular_values, Vt = state.iteration.triplets(state.basis, params["factors"])
        projection, item_factors = svd_factors(
            Vt.T.astype(np.float64), state.item_degrees, params["item_exponent"],
            params["popularity_exponent"])
        projection = np.ascontiguousarray(projection, dtype=dtype)
        user_factors = state.backend.csr_matmul(state.raw, projection, num_threads=state.threads)
        return dict(user_factors=user_factors,
                    item_factors=np.ascontiguousarray(item_factors, dtype=dtype),
                    item_projection=projection, singular_values=singular_values,
                    item_degrees=state.item_degrees.astype(dtype),
                    # copies: the CSR arrays may be views of the caller's matrix
                    normalized_indptr=state.raw.indptr.copy(),
                    normalized_indices=state.raw.indices.copy(), normalized_data=state.item_item)

    # ------------------------------------------------------------------ serving hooks
    def _fold_in_users(self, user_items) -> np.ndarray:
        """``x_u = r_u D_I^{-β} V``: exactly the fitted factor for a training row."""
        return self._backend().csr_matmul(csr_arrays(user_items), self.item_projection,
                                          num_threads=self._threads())

    def _ranking_users(self, user_factors: np.ndarray) -> np.ndarray:
        if self._settings()["item_item_weight"]:
            raise ValueError(
                "this SVD has item_item_weight > 0: its scores add an item-item term to the "
                "factor dot products, which factor-based ranking (mfkit.evaluation) cannot "
                "compute; rank with model.recommend, or set item_item_weight=0")
        return user_factors

    # ------------------------------------------------------------------ the item–item term
    def recommend(self, userid: Ids, user_items: Rows | None = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: ArrayLike | None = None,
                  recalculate_user: bool = False, items: ArrayLike | None = None,
                  approximate: bool = False) -> Ranked:
        """Top-``N`` items for one user or a batch of users, best first: see
        :meth:`mfkit._base.Recommender.recommend`. With ``item_item_weight`` > 0 the rows of
        ``user_items`` (required) are the histories ``r_u`` of the item–item term, and the
        scores are ranked here, block by block, with the same filters, order and padding (not
        approximately: the item–item term is no dot product an index could search)."""
        if not self._settings()["item_item_weight"]:
            return super().recommend(userid, user_items, N, filter_already_liked_items,
                                     filter_items, recalculate_user, items, approximate)
        if check_bool(approximate, "approximate"):
            raise ValueError("approximate=True needs scores that are dot products; this SVD "
                             "adds an item-item term (item_item_weight > 0): serve it exactly, "
                             "or set item_item_weight=0")
        self._check_fitted()
        n_users, n_items = len(self.user_factors), len(self.item_factors)
        recalculate_user = check_bool(recalculate_user, "recalculate_user")
        filter_liked = check_bool(filter_already_liked_items, "filter_already_liked_items")
        users, scalar = check_ids(userid, "userid", None if recalculate_user else n_users)
        N = check_int(N, "N", 1)
        filter_items, items = self._check_candidates(filter_items, items, n_items)
        if user_items is None:
            raise ValueError("user_items is required by an SVD with item_item_weight > 0 (the "
                             "item-item term scores the users' histories): pass "
                             "user_items[userid]")
        rows = self._interaction_rows(user_items, len(users), n_items, "user_items", "userid")
        queries = self._folded_in("user", rows) if recalculate_user else self.user_factors[users]
        return self._answer(*self._rank_scores(queries, rows, N, filter_liked, filter_items,
                                               items), scalar)

    def _item_item_matrices(self):
        """Ř (CSR) and Řᵀ (CSR), built once from the fitted arrays."""
        def build(data):
            matrix = sp.csr_matrix((data, self.normalized_indices, self.normalized_indptr),
                                   shape=(len(self.normalized_indptr) - 1,
                                          len(self.item_factors)))
            matrix.check_format(full_check=True)
            return matrix, matrix.T.tocsr()
        return self._cached("item_item", self.normalized_data, build)

    def _rank_scores(self, queries, rows, N, filter_liked, filter_items, items):
        """The best ``N`` items by x_u · y_i + w · (r_u ŘᵀŘ)_i · d_i^δ, blocks of users scored
        whole, then the backend's top-k: filtered items get -inf (never returned), each row's
        liked items are dropped by top_k, rows padded with -1 / -inf."""
        params = self._settings()
        matrix, matrix_t = self._item_item_matrices()
        popularity = degree_power(self.item_degrees, params["popularity_exponent"])
        n_items = len(self.item_factors)
        dropped = np.zeros(n_items, dtype=bool)
        if items is not None:
            dropped[:] = True
            dropped[items] = False
        if filter_items is not None:
            dropped[filter_items] = True
        columns = min(N, n_items - int(dropped.sum()))
        backend, threads = self._backend(), self._threads()
        parts = []
        for start, stop, scores in score_blocks(queries, self.item_factors):
            block = rows[start:stop]
            scores += item_item_scores(block, matrix, matrix_t, popularity,
                                       params["item_item_weight"]).astype(scores.dtype)
            scores[:, dropped] = -np.inf
            liked = None
            if filter_liked:
                liked = (block.indptr.astype(np.int64), block.indices.astype(np.int32))
            parts.append(backend.top_k(np.ascontiguousarray(scores), columns,
                                       num_threads=threads, exclude=liked))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))
