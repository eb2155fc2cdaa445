"""The C++ backend: picks the float32/float64 kernel of the active SIMD level by dtype.

Every function here has a twin of the same signature in :mod:`mfkit.reference`.
"""
from __future__ import annotations

import numpy as np

from . import _simd
from ._containers import BprIndex, CsrArrays


def _kernel(name: str, dtype: np.dtype):
    return getattr(_simd.kernels(), f"{name}_{'f32' if dtype == np.float32 else 'f64'}")


def gram(factors: np.ndarray, *, num_threads: int) -> np.ndarray:
    """YᵀY of a factor matrix."""
    return _kernel("gram", factors.dtype)(factors, num_threads)


def als_half_sweep(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, *, regularization,
                   regularization_exponent, alpha, solver, cg_steps, num_threads,
                   regularization_scheme="count", block_size=32, block_sweeps=1) -> None:
    """Solve every row of ``solved`` (in place) with ``fixed`` held constant."""
    _kernel("als_half_sweep", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed, solved, regularization,
        regularization_exponent, regularization_scheme, alpha, solver, cg_steps, block_size,
        block_sweeps, num_threads,
    )


def als_solve_rows(matrix: CsrArrays, fixed: np.ndarray, fixed_gram: np.ndarray,
                   solved: np.ndarray, *, regularization, regularization_exponent, alpha, solver,
                   cg_steps, num_threads, regularization_scheme="count", block_size=32,
                   block_sweeps=1) -> None:
    """Like :func:`als_half_sweep` with ``fixed_gram = fixedᵀfixed`` given (cached by serving)."""
    _kernel("als_solve_rows", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed, fixed_gram, solved, regularization,
        regularization_exponent, regularization_scheme, alpha, solver, cg_steps, block_size,
        block_sweeps, num_threads,
    )


def top_k(scores: np.ndarray, k: int, *, num_threads: int, exclude=None):
    """Best ``k`` columns of every row: ``(ids int32, scores)``, best first, ties by lower id.

    -inf (filtered) and NaN entries never qualify; short rows are padded with -1 / -inf.
    ``exclude``: optional ``(indptr, indices)`` listing per row the columns to drop first (set to
    -inf in ``scores``, which must be a writeable C-contiguous array of the model dtype).
    """
    indptr, indices = _NO_EXCLUSIONS if exclude is None else exclude
    return _kernel("top_k", scores.dtype)(scores, k, indptr, indices, num_threads)


_NO_EXCLUSIONS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32))


def rank_rows(queries: np.ndarray, targets_t: np.ndarray, k: int, *, num_threads: int,
              exclude=None, excluded_all=None):
    """Best ``k`` targets of every query row by dot product: ``(ids int32, scores)`` as
    :func:`top_k` of ``queries @ targets_t`` would give, without storing that matrix.

    ``targets_t`` is the targets matrix transposed (factors x targets, C-contiguous);
    ``exclude``: optional per-query ``(indptr, indices)`` of targets to drop; ``excluded_all``:
    target ids dropped for every query.
    """
    indptr, indices = _NO_EXCLUSIONS if exclude is None else exclude
    every = _NO_EXCLUSIONS[1] if excluded_all is None else excluded_all
    return _kernel("rank_rows", queries.dtype)(queries, targets_t, k, indptr, indices, every,
                                               num_threads)


def rank_candidates(queries: np.ndarray, targets: np.ndarray, candidates: np.ndarray, k: int, *,
                    num_threads: int, exclude=None, excluded_all=None):
    """:func:`rank_rows` over the targets listed in ``candidates`` only (int32, strictly
    increasing, so ties still go to the lower id), with ``targets`` as rows (targets x factors).

    ``exclude`` / ``excluded_all`` name target ids, as in :func:`rank_rows`; ids that are not
    candidates are ignored.
    """
    indptr, indices = _NO_EXCLUSIONS if exclude is None else exclude
    every = _NO_EXCLUSIONS[1] if excluded_all is None else excluded_all
    return _kernel("rank_candidates", queries.dtype)(queries, targets, candidates, k, indptr,
                                                     indices, every, num_threads)


def als_loss(matrix: CsrArrays, user_factors: np.ndarray, item_factors: np.ndarray, *,
             regularization, regularization_exponent, alpha, num_threads,
             regularization_scheme="count") -> float:
    """The full implicit-ALS objective (see :mod:`mfkit.reference.als`)."""
    return _kernel("als_loss", user_factors.dtype)(
        matrix.indptr, matrix.indices, matrix.data, user_factors, item_factors, regularization,
        regularization_exponent, regularization_scheme, alpha, num_threads,
    )


def ranking_metrics_block(scores: np.ndarray, train: CsrArrays, test: CsrArrays, K: int, *,
                          num_threads: int) -> np.ndarray:
    """Per-user ranking metrics of a block of users: float64 array (rows, 7).

    Columns: precision@K, recall@K, AP@K, nDCG@K, hit@K, reciprocal rank@K, AUC (formulas in
    :mod:`mfkit.reference.metrics`). ``train`` / ``test`` hold the same users' rows (values are
    ignored); rows without relevant test items are all NaN.
    """
    return _kernel("ranking_metrics", scores.dtype)(
        scores, train.indptr, train.indices, test.indptr, test.indices, K, num_threads,
    )


# ------------------------------------------------------------------------------- explicit MF
def explicit_shuffle(blocks, seed: int, *, num_threads: int) -> None:
    """Shuffle every block of a :class:`~mfkit._validation.RatingBlocks` in place (Fisher–Yates,
    one SplitMix64 stream per block seeded from ``seed``); see :mod:`mfkit.reference.explicit`."""
    _kernel("explicit_shuffle", blocks.ratings.dtype)(
        blocks.users, blocks.items, blocks.ratings, blocks.block_ptr, blocks.user_block,
        blocks.item_block, int(seed), num_threads,
    )


def explicit_sgd_epoch(blocks, strata: np.ndarray, user_factors: np.ndarray,
                       item_factors: np.ndarray, user_bias: np.ndarray, item_bias: np.ndarray, *,
                       global_mean, learning_rate, regularization, biased, num_threads) -> None:
    """One stratified SGD epoch (Koren, Bell & Volinsky 2009); factors and biases in place."""
    _kernel("explicit_sgd_epoch", user_factors.dtype)(
        blocks.users, blocks.items, blocks.ratings, blocks.block_ptr, blocks.user_block,
        blocks.item_block, strata, user_factors, item_factors, user_bias, item_bias,
        global_mean, learning_rate, regularization, biased, num_threads,
    )


def explicit_loss(matrix: CsrArrays, user_factors: np.ndarray, item_factors: np.ndarray,
                  user_bias: np.ndarray, item_bias: np.ndarray, *, global_mean, regularization,
                  biased, num_threads) -> float:
    """Regularized squared error over the observed ratings (see :mod:`mfkit.reference.explicit`)."""
    return _kernel("explicit_loss", user_factors.dtype)(
        matrix.indptr, matrix.indices, matrix.data, user_factors, item_factors, user_bias,
        item_bias, global_mean, regularization, biased, num_threads,
    )


def explicit_als_solve_rows(matrix: CsrArrays, fixed: np.ndarray, fixed_bias: np.ndarray,
                            solved: np.ndarray, solved_bias: np.ndarray, *, global_mean,
                            regularization, biased, num_threads) -> None:
    """ALS-WR row solves (Zhou et al. 2008), in place; see :mod:`mfkit.reference.explicit`."""
    _kernel("explicit_als_solve_rows", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed, fixed_bias, solved, solved_bias,
        global_mean, regularization, biased, num_threads,
    )


# ------------------------------------------------------------------------------------------ BPR
def bpr_index(positives: CsrArrays):
    """What the BPR sampler reads besides the CSR arrays: the row of every stored entry and the
    membership filter of the (user, item) pairs (speed only: results do not depend on it)."""

    entry_rows = np.repeat(np.arange(positives.shape[0], dtype=np.int32),
                           np.diff(positives.indptr))
    filter_words = _kernel("bpr_membership_filter", np.dtype(np.float64))(
        positives.indptr, positives.indices, positives.shape[1])
    return BprIndex(entry_rows=entry_rows, pair_filter=filter_words)


def bpr_epoch(positives: CsrArrays, index, user_factors: np.ndarray, item_factors: np.ndarray,
              item_bias: np.ndarray, *, learning_rate, regularization, negative_sampling,
              verify_negative_samples, seed, num_threads) -> dict:
    """One BPR epoch in place: ``nnz`` sampled triples, an SGD step each (see
    :mod:`mfkit.reference.bpr`); ``index`` from :func:`bpr_index`. Returns the epoch's counters
    (samples, updates, ranked, draws, rejected, skipped, finite)."""
    return _kernel("bpr_epoch", user_factors.dtype)(
        positives.indptr, positives.indices, index.entry_rows, _bpr_filter(index), user_factors,
        item_factors, item_bias, learning_rate, regularization, negative_sampling,
        verify_negative_samples, seed, num_threads,
    )


def _bpr_filter(index) -> np.ndarray:
    return np.zeros(0, dtype=np.uint64) if index.pair_filter is None else index.pair_filter


def bpr_sample(positives: CsrArrays, index, *, negative_sampling, verify_negative_samples, seed,
               num_threads):
    """The triples :func:`bpr_epoch` draws with these arguments: ``(users, positives,
    negatives, stats)``, int32 arrays (negative -1 where a sample was skipped)."""
    return _kernel("bpr_sample", np.dtype(np.float64))(
        positives.indptr, positives.indices, index.entry_rows, _bpr_filter(index),
        positives.shape[1], negative_sampling, verify_negative_samples, seed, num_threads,
    )


def bpr_update(user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray,
               users: np.ndarray, positives: np.ndarray, negatives: np.ndarray, *,
               learning_rate, regularization, num_threads) -> dict:
    """BPR SGD steps over given triples, in place (chunked like :func:`bpr_epoch`)."""
    return _kernel("bpr_update", user_factors.dtype)(
        user_factors, item_factors, item_bias, users, positives, negatives, learning_rate,
        regularization, num_threads,
    )


def bpr_fold_in(rows: CsrArrays, item_factors: np.ndarray, item_bias: np.ndarray,
                cumulative_counts: np.ndarray, solved: np.ndarray, *, epochs, learning_rate,
                regularization, negative_sampling, verify_negative_samples, seed,
                num_threads) -> dict:
    """User factors (rows of ``solved``, in place) from their positives with the items fixed."""
    return _kernel("bpr_fold_in", solved.dtype)(
        rows.indptr, rows.indices, item_factors, item_bias, cumulative_counts, solved, epochs,
        learning_rate, regularization, negative_sampling, verify_negative_samples, seed,
        num_threads,
    )


# ------------------------------------------------------------------------------------------ NMF
def _optional_gram(array, dtype) -> np.ndarray:
    """An optional input array; empty means "not given" to the kernels."""
    return np.empty((0, 0), dtype=dtype) if array is None else array


def nmf_cd_update(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, *, l1, l2, missing,
                  num_threads, products=None, fixed_gram=None, solved_gram=None) -> float:
    """One coordinate-descent (HALS) sweep over the rows of ``solved`` (in place) with ``fixed``
    constant; returns Σ|projected gradient| (see :mod:`mfkit.reference.nmf`).

    Shortcuts, used only with ``missing="zero"``: ``products`` is ``matrix @ fixed`` and
    ``fixed_gram`` is ``fixedᵀfixed`` when the caller has them; ``solved_gram`` (a writeable
    k × k array of the model dtype) receives ``solvedᵀsolved`` of the updated rows.
    """
    return _kernel("nmf_cd_update", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed, solved,
        _optional_gram(products, solved.dtype), _optional_gram(fixed_gram, solved.dtype),
        solved_gram, l1, l2, missing == "ignore", num_threads,
    )


def nmf_mu_update(matrix: CsrArrays, fixed: np.ndarray, solved: np.ndarray, *, beta_loss, l1, l2,
                  missing, flush_below, num_threads, products=None, fixed_gram=None,
                  solved_gram=None) -> None:
    """One multiplicative update of the rows of ``solved`` (in place) with ``fixed`` constant;
    ``products``, ``fixed_gram`` and ``solved_gram`` as in :func:`nmf_cd_update` (Frobenius with
    ``missing="zero"`` only)."""
    _kernel("nmf_mu_update", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed, solved,
        _optional_gram(products, solved.dtype), _optional_gram(fixed_gram, solved.dtype),
        solved_gram, beta_loss, l1, l2, missing == "ignore", flush_below, num_threads,
    )


def nmf_gram(factors: np.ndarray, *, num_threads) -> np.ndarray:
    """FᵀF for the NMF kernels' ``fixed_gram`` (subnormals flushed to zero, see nmf.hpp)."""
    return _kernel("nmf_gram", factors.dtype)(factors, num_threads)


def nmf_solve(matrix: CsrArrays, fixed: np.ndarray, fixed_gram, solved: np.ndarray, *, solver,
              beta_loss, l1, l2, missing, max_iter, tol, num_threads) -> int:
    """Solve the rows of ``solved`` (in place, from its values) with ``fixed`` constant until the
    stopping rule holds; ``fixed_gram`` is ``fixedᵀfixed`` or None. Returns the sweeps done."""
    return _kernel("nmf_solve", solved.dtype)(
        matrix.indptr, matrix.indices, matrix.data, fixed,
        _optional_gram(fixed_gram, solved.dtype), solved, solver, beta_loss, l1, l2,
        missing == "ignore", max_iter, tol, num_threads,
    )


def nmf_loss(matrix: CsrArrays, W: np.ndarray, fixed: np.ndarray, *, beta_loss, missing,
             num_threads) -> float:
    """The NMF data term D(X, W·fixedᵀ), without penalties."""
    return _kernel("nmf_loss", W.dtype)(
        matrix.indptr, matrix.indices, matrix.data, W, fixed, beta_loss, missing == "ignore",
        num_threads,
    )


def csr_matmul(matrix: CsrArrays, dense: np.ndarray, *, num_threads) -> np.ndarray:
    """``matrix @ dense`` as a new C-contiguous array of ``dense``'s dtype."""
    return _kernel("csr_matmul", dense.dtype)(
        matrix.indptr, matrix.indices, matrix.data, dense, num_threads,
    )


def csr_transpose_matmul(matrix: CsrArrays, column_ptr: np.ndarray, dense: np.ndarray, *,
                         num_threads, out=None) -> np.ndarray:
    """``matrix.T @ dense`` by scattering the rows of ``matrix``, into ``out`` (a writeable
    C-contiguous array of ``dense``'s dtype) or a new array; ``column_ptr`` is the indptr of
    ``matrix.T`` in CSR form (cumulative column counts). Identical to :func:`csr_matmul` on the
    transposed matrix, and faster when the output is the smaller side."""
    return _kernel("csr_transpose_matmul", dense.dtype)(
        matrix.indptr, matrix.indices, matrix.data, column_ptr, dense, out, num_threads,
    )
