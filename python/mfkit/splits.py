"""Train / test splits of interaction matrices: random, leave-k-out and by time.

Every split takes a users x items matrix (any scipy.sparse format or a dense 2-D array; CSR is
used without conversion) or a :class:`mfkit.datasets.Interactions`, never modifies it, and
returns ``(train, test)``: two canonical CSR matrices of the input's shape and dtype that
partition its stored entries, so ``train + test`` equals the input exactly and no cell is in
both. The parts of an ``Interactions`` are ``Interactions`` with its raw-id maps (and the
timestamps of their entries), so that a model fitted on ``train`` knows the raw ids. Stored
zeros are not interactions and are dropped; duplicate entries are summed first.
The random splits are reproducible from ``random_state`` (None, an int seed or a numpy
Generator); ``time_split`` is deterministic.

Counts ``round(test_size * n)`` are rounded half up (``floor(x + 0.5)``).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._interactions import Interactions
from ._validation import (
    check_bool,
    check_fraction,
    check_int,
    check_random_state,
    not_a_matrix,
)

__all__ = ["leave_k_out_split", "time_split", "train_test_split", "train_valid_test_split",
           "validation_split"]


def _round_half_up(x):
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def _canonical(matrix, name: str) -> sp.csr_matrix:
    """A canonical CSR view or copy (sorted indices, duplicates summed); never mutates."""
    if sp.issparse(matrix):
        csr = matrix if matrix.format == "csr" else matrix.tocsr()
    elif isinstance(matrix, (np.ndarray, list, tuple)):
        dense = np.asarray(matrix)
        if dense.ndim != 2:
            raise ValueError(f"{name} must be 2-D (users x items), got {dense.ndim}-D")
        if not (np.issubdtype(dense.dtype, np.number) or dense.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {dense.dtype}")
        csr = sp.csr_matrix(dense)
    else:
        raise not_a_matrix(name, matrix, "a scipy.sparse matrix, a 2-D array or an Interactions")
    if csr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (users x items)")
    if not isinstance(csr, sp.csr_matrix):
        csr = sp.csr_matrix(csr)  # csr_array -> csr_matrix, sharing the arrays
    nnz = int(csr.indptr[-1])
    if not csr.has_canonical_format or len(csr.indices) != nnz or len(csr.data) != nnz:
        csr = csr.copy()  # never sort or sum the caller's arrays in place
        csr.sum_duplicates()
    return csr


def _unpack(ratings):
    """ratings (matrix or Interactions) -> (canonical CSR with any stored zeros, timestamps)."""
    if isinstance(ratings, Interactions):
        return _canonical(ratings.matrix, "ratings"), ratings.timestamps
    return _canonical(ratings, "ratings"), None


def _rows(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


def _take(matrix: sp.csr_matrix, mask: np.ndarray, rows: np.ndarray) -> sp.csr_matrix:
    """The stored entries where ``mask`` is True, as a new canonical CSR of the same shape."""
    indptr = np.zeros(matrix.shape[0] + 1, dtype=matrix.indptr.dtype)
    np.cumsum(np.bincount(rows[mask], minlength=matrix.shape[0]), out=indptr[1:])
    out = sp.csr_matrix((matrix.data[mask], matrix.indices[mask], indptr), shape=matrix.shape,
                        dtype=matrix.dtype)
    out.has_sorted_indices = True
    return out


def _interactions(full: sp.csr_matrix):
    """Drop stored zeros (not interactions): (matrix, rows of its entries, kept mask or None)."""
    rows = _rows(full)
    nonzero = full.data != 0
    if nonzero.all():
        return full, rows, None
    return _take(full, nonzero, rows), rows[nonzero], nonzero


def _split(matrix: sp.csr_matrix, in_test: np.ndarray, rows: np.ndarray):
    return _take(matrix, ~in_test, rows), _take(matrix, in_test, rows)


def _parts(ratings, matrix: sp.csr_matrix, in_test: np.ndarray, rows: np.ndarray,
           times: np.ndarray | None = None):
    """``(train, test)``: CSR matrices, or Interactions with the id maps of ``ratings`` when it
    is one (``times``: the timestamp of every entry of ``matrix``, or None)."""
    train, test = _split(matrix, in_test, rows)
    if not isinstance(ratings, Interactions):
        return train, test
    stamps = (None, None)
    if times is not None:
        stamps = _split(sp.csr_matrix((times, matrix.indices, matrix.indptr), shape=matrix.shape),
                        in_test, rows)
    return tuple(Interactions(matrix=part, user_ids=ratings.user_ids, item_ids=ratings.item_ids,
                              timestamps=ts) for part, ts in zip((train, test), stamps))


def _entry_times(full: sp.csr_matrix, timestamps, kept: np.ndarray | None):
    """The timestamp of every interaction kept from ``full`` (None without timestamps)."""
    if timestamps is None:
        return None
    times = _timestamp_values(full, timestamps)
    return times if kept is None else times[kept]


def train_test_split(ratings, test_size: float = 0.2, random_state=None):
    """Random split: exactly ``round(test_size * nnz)`` stored interactions, chosen uniformly at
    random without replacement, go to test; the rest stay in train.

    Parameters
    ----------
    ratings : sparse matrix, 2-D array or Interactions (its ``matrix`` is split)
    test_size : float in (0, 1)
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    (train, test) : CSR matrices of the input's shape and dtype, ``train + test == ratings``
        (Interactions keeping the raw ids and timestamps when ``ratings`` is one).
    """
    test_size = check_fraction(test_size, "test_size")
    rng = check_random_state(random_state)
    full, attached = _unpack(ratings)
    matrix, rows, kept = _interactions(full)
    nnz = matrix.nnz
    n_test = int(_round_half_up(test_size * nnz))
    in_test = np.zeros(nnz, dtype=bool)
    in_test[rng.choice(nnz, size=n_test, replace=False)] = True
    return _parts(ratings, matrix, in_test, rows, _entry_times(full, attached, kept))


def leave_k_out_split(ratings, K: int = 1, random_state=None):
    """Per-user split: for every user with at least ``K + 1`` interactions, exactly ``K`` of
    them, chosen uniformly at random, go to test. Users with ``K`` or fewer interactions stay
    entirely in train (so every user in test also has training data).

    Vectorized: one random key per entry, ranked within its row; no loop over users.

    Returns
    -------
    (train, test) : CSR matrices of the input's shape and dtype, ``train + test == ratings``
        (Interactions keeping the raw ids and timestamps when ``ratings`` is one).
    """
    K = check_int(K, "K", 1)
    rng = check_random_state(random_state)
    full, attached = _unpack(ratings)
    matrix, rows, kept = _interactions(full)
    keys = rng.random(matrix.nnz)
    order = np.lexsort((keys, rows))  # by row, then random key
    rank = np.arange(matrix.nnz, dtype=np.int64) - matrix.indptr[rows[order]]
    counts = np.diff(matrix.indptr)
    chosen = (rank < K) & (counts[rows[order]] > K)
    in_test = np.zeros(matrix.nnz, dtype=bool)
    in_test[order[chosen]] = True
    return _parts(ratings, matrix, in_test, rows, _entry_times(full, attached, kept))


def _timestamp_values(full: sp.csr_matrix, timestamps) -> np.ndarray:
    """The timestamp of every stored entry of ``full`` (canonical ratings, zeros included)."""
    if not (sp.issparse(timestamps) and timestamps.ndim == 2):
        raise TypeError("timestamps must be a scipy.sparse matrix with the structure of ratings, "
                        f"got {type(timestamps).__name__}")
    if timestamps.shape != full.shape:
        raise ValueError(f"timestamps has shape {timestamps.shape}, but ratings has {full.shape}")
    ts = timestamps if timestamps.format == "csr" else timestamps.tocsr()
    n = int(ts.indptr[-1])
    if not ts.has_canonical_format or len(ts.indices) != n or len(ts.data) != n:
        # Duplicated cells keep their latest timestamp (scipy would sum them).
        coo = ts.tocoo()
        key = coo.row.astype(np.int64) * ts.shape[1] + coo.col
        order = np.lexsort((coo.data, key))
        key, data = key[order], coo.data[order]
        last = np.append(key[1:] != key[:-1], True)
        row, col = np.divmod(key[last], ts.shape[1])
        ts = sp.csr_matrix((data[last], (row, col)), shape=ts.shape)
        n = int(ts.indptr[-1])
    if not (n == full.nnz and np.array_equal(ts.indptr, full.indptr)
            and np.array_equal(ts.indices[:n], full.indices)):
        raise ValueError("timestamps must have the same sparsity structure as ratings "
                         "(one timestamp per stored interaction)")
    values = np.asarray(ts.data[:n], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("timestamps contains NaN or infinite values")
    return values


def time_split(ratings, timestamps=None, test_size: float = 0.2, per_user: bool = False):
    """Split by time: the latest interactions go to test.

    Parameters
    ----------
    ratings : sparse matrix, 2-D array or Interactions
    timestamps : sparse matrix or None
        One timestamp per stored interaction: the same shape and sparsity structure as
        ``ratings``. None: taken from ``ratings.timestamps`` when ``ratings`` is an
        Interactions (an explicit ``timestamps`` overrides it).
    test_size : float in (0, 1)
    per_user : bool
        False: the latest ``round(test_size * nnz)`` interactions overall go to test.
        True: for every user, the latest ``min(round(test_size * n_u), n_u - 1)`` of that
        user's ``n_u`` interactions go to test, so every user keeps at least one training
        interaction (users with one interaction stay in train).

    Returns
    -------
    (train, test) : CSR matrices of the input's shape and dtype, ``train + test == ratings``
        (Interactions keeping the raw ids when ``ratings`` is one, with the timestamps used).

    Notes
    -----
    Ties in time are broken by position: among equal timestamps, the entry later in row-major
    order (higher user index, then higher item index) counts as later. Deterministic.
    """
    test_size = check_fraction(test_size, "test_size")
    per_user = check_bool(per_user, "per_user")
    full, attached = _unpack(ratings)
    if timestamps is None:
        timestamps = attached
    if timestamps is None:
        raise ValueError("timestamps is required: pass timestamps= (a sparse matrix with the "
                         "structure of ratings) or an Interactions that has timestamps")
    ts = _timestamp_values(full, timestamps)
    matrix, rows, kept = _interactions(full)
    if kept is not None:
        ts = ts[kept]
    nnz = matrix.nnz
    in_test = np.zeros(nnz, dtype=bool)
    if not per_user:
        n_test = int(_round_half_up(test_size * nnz))
        order = np.argsort(ts, kind="stable")  # stable: equal times keep row-major order
        in_test[order[nnz - n_test:]] = True
    else:
        counts = np.diff(matrix.indptr)
        n_test = np.minimum(_round_half_up(test_size * counts), np.maximum(counts - 1, 0))
        order = np.lexsort((ts, rows))  # by row, then time; lexsort is stable
        rank = np.arange(nnz, dtype=np.int64) - matrix.indptr[rows[order]]
        latest = rank >= (counts - n_test)[rows[order]]
        in_test[order[latest]] = True
    return _parts(ratings, matrix, in_test, rows, ts)


# ---------------------------------------------------------------------- tuning: a validation set
def validation_split(train, valid_size: float = 0.1, K: int | None = None, random_state=None):
    """Hold part of a *training* set out for tuning, so that the test set is never seen while
    choosing hyperparameters (``mfkit.tuning.tune(model, fit_part, valid)``).

    With ``K`` given, :func:`leave_k_out_split`: ``K`` interactions of every user with more
    than ``K`` go to ``valid``. Otherwise :func:`train_test_split` with
    ``test_size=valid_size``.

    Returns
    -------
    (fit_part, valid) : CSR matrices (or Interactions) of ``train``'s shape that partition it.
    """
    if K is not None:
        return leave_k_out_split(train, K=K, random_state=random_state)
    return train_test_split(train, test_size=valid_size, random_state=random_state)


def train_valid_test_split(ratings, valid_size: float = 0.1, test_size: float = 0.2,
                           random_state=None):
    """Random three-way split for tuning then testing: ``round(test_size * nnz)`` interactions
    go to ``test``, then ``round(valid_size / (1 - test_size) * rest)`` of the rest (so about
    ``valid_size`` of the whole) to ``valid``; both drawn from one ``random_state``.

    Tune on ``(train, valid)``, refit the chosen parameters on ``train + valid`` and report on
    ``test`` once.

    Returns
    -------
    (train, valid, test) : CSR matrices (or Interactions) of the input's shape and dtype that
        partition its stored interactions.
    """
    valid_size = check_fraction(valid_size, "valid_size")
    test_size = check_fraction(test_size, "test_size")
    if valid_size + test_size >= 1:
        raise ValueError(f"valid_size + test_size must be < 1 to leave training data, got "
                         f"{valid_size} + {test_size}")
    rng = check_random_state(random_state)
    rest, test = train_test_split(ratings, test_size=test_size, random_state=rng)
    train, valid = train_test_split(rest, test_size=valid_size / (1 - test_size),
                                    random_state=rng)
    return train, valid, test
