"""Every check of user input, in one place. Errors name the offending argument."""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from ._warnings import warn_caller

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


C_INT_MAX = 2**31 - 1


def check_int(value, name: str, minimum: int | None = None, maximum: int = C_INT_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def check_float(value, name: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_ids(ids, name: str, upper: int | None = None):
    """Integer id(s) -> (1-D int64 array, was_scalar). ``upper`` bounds them: 0 <= id < upper."""
    array = np.asarray(ids)
    scalar = array.ndim == 0
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise TypeError(f"{name} must be an integer or an array of integers, got {array.dtype}")
    array = np.atleast_1d(array).astype(np.int64, copy=False)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got {array.ndim}-D")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} contains negative ids (smallest {array.min()})")
    if upper is not None and array.size and array.max() >= upper:
        raise ValueError(f"{name} contains ids out of range: {array.max()} >= {upper}")
    return array, scalar


def check_dtype(dtype) -> np.dtype:
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if resolved not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {resolved}")
    return resolved


def check_random_state(random_state) -> np.random.Generator:
    """None, an int seed, a SeedSequence or a Generator -> a numpy Generator."""
    if random_state is None or isinstance(random_state,
                                          (np.random.Generator, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {random_state}")
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}"
    )


def _as_csr(matrix, name: str):
    """A sparse matrix as CSR: CSR as it is, any other format converted once with a warning
    (pointing at the code that called ``fit``)."""
    if matrix.format == "csr":
        return matrix
    warn_caller(f"{name} is in {matrix.format.upper()} format; converting to CSR (one copy). "
                "Pass a scipy.sparse CSR matrix to avoid this.")
    return matrix.tocsr()


def _check_structure(matrix, name: str, rows_limited: bool) -> None:
    """Shape, index and value checks of a CSR matrix (raises, never fixes). Columns, and rows
    when ``rows_limited``, must fit the kernels' 32-bit indices."""
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be 2-D (users x items)")
    rows, cols = matrix.shape
    if rows == 0 or cols == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape "
                         f"{matrix.shape}")
    if cols >= 2**31 or (rows_limited and rows >= 2**31):
        raise ValueError(f"{name} has too many rows or columns ({matrix.shape}); at most "
                         "2**31 - 1 are supported")
    if np.iscomplexobj(matrix.data) or not (
        np.issubdtype(matrix.dtype, np.number) or matrix.dtype == bool
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {matrix.dtype}")
    indptr, indices = matrix.indptr, matrix.indices
    if indptr.shape != (rows + 1,) or indptr[0] != 0 or (indptr[1:] < indptr[:-1]).any():
        raise ValueError(f"{name} has a malformed indptr (must start at 0 and never decrease)")
    nnz = int(indptr[-1])
    if len(indices) < nnz or len(matrix.data) < nnz:
        raise ValueError(f"{name}: indptr[-1] exceeds the number of stored entries")
    if nnz and (indices[:nnz].min() < 0 or indices[:nnz].max() >= cols):
        raise ValueError(f"{name} has column indices outside [0, {cols})")
    if not np.all(np.isfinite(matrix.data[:nnz])):
        raise ValueError(f"{name} contains NaN or infinite values")


def not_a_matrix(name: str, value, accepted: str = "a scipy.sparse matrix or a 2-D array"):
    """The TypeError for data of the wrong type; a DataFrame gets the way to convert it."""
    hint = ""
    if hasattr(value, "columns") and hasattr(value, "to_numpy"):
        hint = ("; a DataFrame of (user, item[, value]) rows becomes training data with "
                "mfkit.datasets.from_dataframe(df, user_col=..., item_col=..., value_col=...), "
                "a users x items table with df.to_numpy()")
    return TypeError(f"{name} must be {accepted}, got {type(value).__name__}{hint}")


def check_user_items(user_items, dtype: np.dtype, name: str = "user_items") -> sp.csr_matrix:
    """Return a canonical CSR matrix (sorted, no duplicates, no stored zeros) in ``dtype``.

    Accepts csr_matrix / csr_array as they are, converts other sparse formats (one copy, with a
    warning) and dense 2-D arrays. Duplicate entries are summed and stored zeros dropped, always
    on a copy: the caller's matrix is never modified.
    """
    if sp.issparse(user_items):
        matrix = _as_csr(user_items, name)
    elif isinstance(user_items, (np.ndarray, list, tuple)):
        dense = np.asarray(user_items)
        if dense.ndim != 2:
            raise ValueError(f"{name} must be 2-D (users x items), got {dense.ndim}-D")
        if not (np.issubdtype(dense.dtype, np.number) or dense.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {dense.dtype}")
        if np.iscomplexobj(dense):
            raise TypeError(f"{name} must hold real numbers, got dtype {dense.dtype}")
        matrix = sp.csr_matrix(dense.astype(dtype))
    else:
        raise not_a_matrix(name, user_items)
    owned = matrix is not user_items
    _check_structure(matrix, name, rows_limited=False)

    if not matrix.has_canonical_format:
        matrix = matrix.copy() if not owned else matrix
        matrix.sum_duplicates()  # also sorts the indices
        owned = True
    if np.any(matrix.data == 0):
        matrix = matrix.copy() if not owned else matrix
        matrix.eliminate_zeros()
        owned = True
    if matrix.dtype != dtype:  # new data only: scipy's astype would copy the index arrays too
        with np.errstate(over="ignore"):  # values beyond float32 become inf: see check_magnitude
            data = matrix.data.astype(dtype)
        matrix = sp.csr_matrix((data, matrix.indices, matrix.indptr), shape=matrix.shape,
                               copy=False)
    return sp.csr_matrix(matrix) if not isinstance(matrix, sp.csr_matrix) else matrix


def check_fraction(value, name: str) -> float:
    """A real number strictly between 0 and 1 (e.g. a test share)."""
    value = check_float(value, name)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value}")
    return value


def check_str(value, name: str, allow_none: bool = False):
    """A non-empty string (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        kind = "a string or None" if allow_none else "a string"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


# ---------------------------------------------------------------------- explicit ratings
def check_ratings(ratings, dtype: np.dtype, name: str = "ratings") -> sp.csr_matrix:
    """Explicit ratings as canonical CSR (sorted indices) in ``dtype``; never modifies the input.

    Unlike :func:`check_user_items` (implicit data), every *stored* entry is an observed rating
    and is kept, including stored zeros (a rating of 0); cells that are not stored are unknown.

    - CSR (``csr_matrix`` / ``csr_array``) is used as is (sorted on a copy if needed); other
      sparse formats are converted once, with a warning. Two stored entries for the same cell
      are ambiguous for ratings and raise ``ValueError`` (they are never summed).
    - A dense 2-D array is the tutorial form: **0 means missing**, every non-zero is a rating.
    - Values must be finite real numbers.
    """
    if sp.issparse(ratings):
        matrix = ratings
        if matrix.format != "csr":
            if matrix.format == "coo":
                _check_coo_duplicates(matrix, name)
            matrix = _as_csr(matrix, name)
    elif isinstance(ratings, (np.ndarray, list, tuple)):
        dense = np.asarray(ratings)
        if dense.ndim != 2:
            raise ValueError(f"{name} must be 2-D (users x items), got {dense.ndim}-D")
        if not (np.issubdtype(dense.dtype, np.number) or dense.dtype == bool) or \
                np.iscomplexobj(dense):
            raise TypeError(f"{name} must hold real numbers, got dtype {dense.dtype}")
        if not np.all(np.isfinite(dense)):
            raise ValueError(f"{name} contains NaN or infinite values (in a dense array, 0 "
                             "marks a missing rating)")
        matrix = sp.csr_matrix(dense.astype(dtype))  # stores the non-zeros only
    else:
        raise not_a_matrix(name, ratings)
    _check_structure(matrix, name, rows_limited=True)
    nnz = int(matrix.indptr[-1])
    indptr = np.asarray(matrix.indptr)
    indices = np.asarray(matrix.indices[:nnz])
    data = np.asarray(matrix.data[:nnz])
    starts = np.repeat(indptr[:-1], np.diff(indptr))
    if nnz > 1:
        same_row = np.flatnonzero(starts[1:] == starts[:-1])
        unsorted = same_row[indices[same_row + 1] <= indices[same_row]]
        if len(unsorted):
            # Sort each row by column (stable), on copies, then look for repeated columns.
            rows = np.repeat(np.arange(matrix.shape[0]), np.diff(indptr))
            order = np.lexsort((indices, rows))
            indices, data = indices[order], data[order]
            repeated = (rows[1:] == rows[:-1]) & (indices[1:] == indices[:-1])
            if repeated.any():
                first = int(np.argmax(repeated))
                raise ValueError(
                    f"{name} stores {int(repeated.sum())} duplicate entries (e.g. row "
                    f"{int(rows[first])}, column {int(indices[first])}); a rating matrix must "
                    "hold at most one rating per cell")
    return sp.csr_matrix((data.astype(dtype, copy=True), indices.astype(np.int32, copy=True),
                          indptr.astype(np.int64, copy=True)), shape=matrix.shape)


def _check_coo_duplicates(matrix, name: str) -> None:
    """COO is the one format whose conversion to CSR silently sums duplicates: look first."""
    key = matrix.row.astype(np.int64) * matrix.shape[1] + matrix.col.astype(np.int64)
    if len(np.unique(key)) != len(key):
        raise ValueError(f"{name} stores {len(key) - len(np.unique(key))} duplicate entries; a "
                         "rating matrix must hold at most one rating per cell")


# ---------------------------------------------------------------------- numeric limits
def all_finite(array: np.ndarray) -> bool:
    """Whether every entry is finite, without a temporary array: NaN propagates through ``min``
    and ``max``, and an infinity is the one or the other."""
    return array.size == 0 or bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def check_magnitude(values: np.ndarray, limit: float, name: str, why: str,
                    remedy: str) -> float:
    """The largest ``|value|`` of ``values``; ``ValueError`` naming ``name``, that magnitude,
    the ``limit``, ``why`` it is the limit and the ``remedy`` when it is larger (or infinite)."""
    largest = float(np.abs(values).max(initial=0.0))
    if not largest <= limit:
        raise ValueError(f"{name} holds a value of magnitude {largest:.3g}, above {limit:.3g}: "
                         f"{why}; {remedy}")
    return largest
