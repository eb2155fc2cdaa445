"""The :class:`Interactions` container: a users x items CSR matrix with the raw ids of its rows
and columns (re-exported as ``mfkit.datasets.Interactions``). No I/O here: the readers live in
:mod:`mfkit._readers`."""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def _readonly_ids(ids, name: str) -> np.ndarray:
    array = np.array(ids)  # a copy: the object owns its id maps
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {array.ndim}-D")
    if array.size and not (np.issubdtype(array.dtype, np.integer) or array.dtype.kind == "U"):
        raise TypeError(f"{name} must hold integers or strings, got dtype {array.dtype}")
    if array.size > 1 and not np.all(array[1:] > array[:-1]):
        raise ValueError(f"{name} must be sorted and unique")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Interactions:
    """A users x items interaction matrix together with the raw ids of its rows and columns.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of float32, users x items
        Canonical CSR (sorted indices, no duplicates, no stored zeros). Repeated (user, item)
        records are summed; cells whose sum is exactly 0 are not stored.
    user_ids, item_ids : numpy.ndarray (read-only)
        Row / column index -> raw id: the sorted unique raw ids, int64 or str (numpy ``<U``).
        Row ``u`` of ``matrix`` belongs to user ``user_ids[u]``.
    timestamps : scipy.sparse.csr_matrix of float64 or None
        Same shape, ``indptr`` and ``indices`` as ``matrix``; each stored value is the latest
        timestamp of that (user, item) cell. None when the source had no timestamps.

    ``user_index`` / ``item_index`` map raw ids to indices, ``to_raw_users`` / ``to_raw_items``
    map indices (e.g. the ids returned by ``model.recommend``) back to raw ids.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: sp.csr_matrix | None = None

    def __post_init__(self):
        if not (sp.issparse(self.matrix) and self.matrix.format == "csr"):
            raise TypeError("matrix must be a scipy.sparse CSR matrix, got "
                            f"{type(self.matrix).__name__}")
        user_ids = _readonly_ids(self.user_ids, "user_ids")
        item_ids = _readonly_ids(self.item_ids, "item_ids")
        if self.matrix.shape != (len(user_ids), len(item_ids)):
            raise ValueError(
                f"matrix has shape {self.matrix.shape} but there are {len(user_ids)} user_ids "
                f"and {len(item_ids)} item_ids"
            )
        ts = self.timestamps
        if ts is not None:
            if not (sp.issparse(ts) and ts.format == "csr"):
                raise TypeError("timestamps must be a scipy.sparse CSR matrix or None, got "
                                f"{type(ts).__name__}")
            if not _same_structure(ts, self.matrix):
                raise ValueError("timestamps must have exactly the sparsity structure of matrix")
        object.__setattr__(self, "user_ids", user_ids)
        object.__setattr__(self, "item_ids", item_ids)

    @property
    def shape(self) -> tuple:
        """(n_users, n_items)."""
        return self.matrix.shape

    @property
    def n_users(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_items(self) -> int:
        return self.matrix.shape[1]

    @property
    def nnz(self) -> int:
        """Number of stored (user, item) cells."""
        return int(self.matrix.nnz)

    def user_index(self, raw_ids):
        """Raw user id(s) -> row index (an int for a scalar, an int64 array otherwise).

        Raises KeyError naming the first unknown id."""
        return _lookup(self.user_ids, raw_ids, "user")

    def item_index(self, raw_ids):
        """Raw item id(s) -> column index (an int for a scalar, an int64 array otherwise).

        Raises KeyError naming the first unknown id."""
        return _lookup(self.item_ids, raw_ids, "item")

    def to_raw_users(self, indices):
        """Row index(es) -> raw user id(s); ``-1`` (padding) maps to None. See ``to_raw_items``."""
        return _to_raw(self.user_ids, indices, "indices")

    def to_raw_items(self, indices):
        """Column index(es) -> raw item id(s).

        ``indices`` is an int or an int array of any shape (e.g. the 2-D ids of a batch
        ``recommend``). The padding id ``-1`` maps to None: a scalar -1 gives None; an array
        containing -1 gives an object array with None in those places (an array without
        padding keeps the dtype of ``item_ids``). Other out-of-range indices raise ValueError.
        """
        return _to_raw(self.item_ids, indices, "indices")

    def __repr__(self) -> str:
        ts = ", with timestamps" if self.timestamps is not None else ""
        return (f"Interactions({self.n_users} users x {self.n_items} items, "
                f"{self.nnz} interactions{ts})")


def _same_structure(a, b) -> bool:
    if a.shape != b.shape:
        return False
    na, nb = int(a.indptr[-1]), int(b.indptr[-1])
    return (na == nb and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices[:na], b.indices[:nb]))


def _same_kind(ids: np.ndarray, flat: np.ndarray):
    """``flat`` (1-D raw ids) converted to the kind of ``ids`` (int64 or str), or None when its
    elements are of another kind (e.g. strings for integer ids)."""
    is_int_ids = ids.dtype.kind in "iu"
    if flat.dtype.kind == "O":
        # Mixed Python objects: every element must be of the ids' kind.
        if is_int_ids:
            ok = all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                     for v in flat)
        else:
            ok = all(isinstance(v, str) for v in flat)
        return flat.astype(np.int64 if is_int_ids else str) if ok else None
    if is_int_ids and flat.dtype.kind == "f":
        integral = np.isfinite(flat) & (flat == np.round(flat))
        return flat.astype(np.int64) if integral.all() else None
    if (is_int_ids and flat.dtype.kind in "iu") or (not is_int_ids and flat.dtype.kind == "U"):
        return flat
    return None


def _positions(ids: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Index of every element of ``flat`` (same kind as ``ids``) in ``ids``, -1 if absent."""
    if ids.size == 0:
        return np.full(flat.shape, -1, dtype=np.int64)
    positions = np.minimum(np.searchsorted(ids, flat), ids.size - 1).astype(np.int64)
    positions[ids[positions] != flat] = -1
    return positions


def _lookup(ids: np.ndarray, raw_ids, kind: str):
    query = as_raw_ids(raw_ids)
    flat = query.reshape(-1)
    if flat.size == 0:
        return np.zeros(query.shape, dtype=np.int64)
    converted = _same_kind(ids, flat)
    if converted is None:  # ids of another kind are simply unknown
        raise KeyError(f"unknown {kind} id {_other_kind(ids, flat)!r}")
    positions = _positions(ids, converted)
    if (positions < 0).any():
        raise KeyError(f"unknown {kind} id {plain_id(flat[np.argmin(positions)])!r}")
    if query.ndim == 0:
        return int(positions[0])
    return positions.reshape(query.shape)


def plain_id(value):
    """A numpy scalar as the Python int / str it holds (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _other_kind(ids: np.ndarray, flat: np.ndarray):
    """The first element of ``flat`` that is not of the kind of ``ids``."""
    return next(plain_id(v) for i, v in enumerate(flat) if _same_kind(ids, flat[i:i + 1]) is None)


def raw_positions(ids: np.ndarray, raw_ids, name: str, kind: str) -> np.ndarray:
    """Index of every raw id of ``raw_ids`` (a scalar or 1-D) in the sorted map ``ids``: a 1-D
    int64 array, -1 for ids not in the map. Ids of another kind than the map's (a string for
    integer ids, ...) raise TypeError naming the argument ``name``: they are never "unknown"."""
    query = as_raw_ids(raw_ids)
    if query.ndim > 1:
        raise ValueError(f"{name} must be a raw {kind} id or a 1-D sequence of them, got "
                         f"{query.ndim}-D")
    flat = query.reshape(-1)
    if flat.size == 0:
        return np.zeros(0, dtype=np.int64)
    converted = _same_kind(ids, flat)
    if converted is None:
        bad = _other_kind(ids, flat)
        raise TypeError(f"{name}: the model's raw {kind} ids are {_kind_name(ids)}, got "
                        f"{type(bad).__name__} {bad!r}")
    return _positions(ids, converted)


def _kind_name(ids: np.ndarray) -> str:
    return "integers" if ids.dtype.kind in "iu" else "strings"


def as_raw_ids(raw_ids) -> np.ndarray:
    """Raw ids as an array; a list or tuple as objects, so that mixed kinds stay visible (numpy
    would turn ``[1, "a"]`` into strings)."""
    if isinstance(raw_ids, (list, tuple)):
        return np.array(raw_ids, dtype=object)
    return np.asarray(raw_ids)


def history_row(history, user, item_ids: np.ndarray, name: str = "history") -> sp.csr_matrix:
    """One user's history as a 1 x ``len(item_ids)`` CSR row over the model's raw item ids.

    ``history`` is the user's raw item ids (each counts 1; a repeated id adds up), a dict
    ``{raw item id: value}``, or an :class:`Interactions` (its row of raw user ``user``; none:
    an empty history). Items not in ``item_ids`` are left out (the model has no factors for
    them, so it can neither recommend them nor learn from them); a non-empty history without
    any known item raises ValueError, as it means ids of another data set or column.
    """
    if isinstance(history, Interactions):
        query = as_raw_ids([user])
        converted = _same_kind(history.user_ids, query)
        if converted is None:
            raise TypeError(f"{name} is an Interactions with {_kind_name(history.user_ids)} as "
                            f"user ids, but the user is {type(user).__name__} {user!r}")
        row = _positions(history.user_ids, converted)[0]
        if row < 0:
            raw, values = history.item_ids[:0], np.zeros(0)
        else:
            cells = history.matrix[row]
            raw, values = history.item_ids[cells.indices], cells.data.astype(np.float64)
    elif isinstance(history, Mapping):
        raw = as_raw_ids(list(history.keys()))
        try:
            values = np.array(list(history.values()), dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must map raw item ids to numbers") from None
    else:
        raw = as_raw_ids(history)
        values = np.ones(raw.size)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} holds NaN or infinite values")
    positions = raw_positions(item_ids, raw, name, "item")
    known = positions >= 0
    if raw.size and not known.any():
        example = plain_id(raw.reshape(-1)[0])
        raise ValueError(f"none of the {raw.size} items in {name} is an item of the model (e.g. "
                         f"{example!r}): are they item ids of another data set or column?")
    columns = positions[known]
    return sp.csr_matrix((values[known], (np.zeros(len(columns), dtype=np.int64), columns)),
                         shape=(1, len(item_ids)))


def _to_raw(ids: np.ndarray, indices, name: str):
    array = np.asarray(indices)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise TypeError(f"{name} must be an integer or an array of integers, got {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and (array.min() < -1 or array.max() >= ids.size):
        bad = array[(array < -1) | (array >= ids.size)].reshape(-1)[0]
        raise ValueError(f"{name} contains {bad}, outside [0, {ids.size}) (and -1 for padding)")
    padding = array == -1
    if array.ndim == 0:
        return None if padding else ids[array].item()
    raw = ids[np.where(padding, 0, array)] if ids.size else np.zeros(array.shape, dtype=ids.dtype)
    if padding.any():
        raw = raw.astype(object)
        raw[padding] = None
    return raw


def unwrap_interactions(user_items):
    """``(matrix, (user_ids, item_ids))`` for an :class:`Interactions` (its raw id maps are kept
    on the fitted model, and saved with it); ``(user_items, (None, None))`` otherwise."""
    if isinstance(user_items, Interactions):
        return user_items.matrix, (user_items.user_ids, user_items.item_ids)
    return user_items, (None, None)
