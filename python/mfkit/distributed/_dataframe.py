"""The block layout of a Dask DataFrame of raw (user, item[, value]) events, built on the workers.

Two rounds of tasks, both on the workers:

1. Each partition is read, its ids checked and encoded (``_readers._frame_ids``: the rules of
   ``mfkit.datasets.from_dataframe``) and kept there; its sorted unique ids are merged in a tree
   of tasks into the raw-id maps. Only the maps (and the row count) come to the client.
2. Each partition maps its ids to indices with the maps (sent to the workers by Dask as task
   inputs) and splits its events by user block; each user block gathers its pieces, in
   partition order, and coalesces them into canonical CSR exactly as ``from_dataframe`` does
   (the same float64 sums in the same order, stored as float32, then cast to the model dtype
   as ``check_user_items`` casts them). Each user block then splits its rows by item block, and
   each item block gathers those pieces into its transposed rows.

The blocks stay on the workers as futures of tasks, so Dask recomputes a lost one from the
DataFrame's partitions.
"""
from __future__ import annotations

import numbers

import dask
import dask.dataframe as dd
import numpy as np
from distributed import Client, wait

from .._containers import CsrArrays
from .._readers import _frame_ids, _frame_numbers
from .._validation import C_INT_MAX, check_dtype, check_int
from ._layout import BlockLayout

_FAN_IN = 16  # id summaries merged by one task of the merge tree


def layout_from_dataframe(ddf, user_col, item_col, value_col=None, *, client: Client,
                          n_blocks: int, dtype) -> BlockLayout:
    """The :class:`BlockLayout` of an interaction log held as a Dask DataFrame with raw ids.

    Same semantics as :func:`mfkit.datasets.from_dataframe`: ids are integers (int64; integral
    floats accepted) or strings, sorted the same way; ``value_col=None`` counts each event 1;
    repeated (user, item) events are summed and cells summing to 0 are not stored. Users and
    items are each split into ``n_blocks`` contiguous blocks of (nearly) equal size.

    Raises ValueError / TypeError naming the column (and, for a bad value, the partition, row
    and index label): missing columns, missing or empty ids, ids mixing integers and strings,
    values that are not finite numbers, a DataFrame without rows.
    """
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"ddf must be a dask DataFrame, got {type(ddf).__name__} (a pandas "
                        "DataFrame: mfkit.datasets.from_dataframe or dask.dataframe.from_pandas)")
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"client is not running (status {client.status!r})")
    n_blocks = check_int(n_blocks, "n_blocks", 1)
    dtype = check_dtype(dtype)
    _check_columns(ddf, {"user_col": user_col, "item_col": item_col, "value_col": value_col})
    columns = (user_col, item_col, value_col)

    # Round 1: encode every partition, merge the ids.
    pairs = [dask.delayed(_encode, nout=2, pure=True)(part, index, columns)
             for index, part in enumerate(ddf.to_delayed())]
    level = [summary for summary, _ in pairs]
    while len(level) > 1:
        level = [dask.delayed(_merge, pure=True)(columns, *level[i:i + _FAN_IN])
                 for i in range(0, len(level), _FAN_IN)]
    *encoded, ids = client.compute([encoded for _, encoded in pairs] + level)
    n_rows, user_ids, item_ids = ids.result()
    if n_rows == 0:
        raise ValueError("ddf has no rows")
    shape = (len(user_ids), len(item_ids))
    for name, size in zip(("users", "items"), shape):
        if size > C_INT_MAX:
            raise ValueError(f"{size} {name}: more than the core's int32 indices can hold")

    # Round 2: the user blocks, then the item blocks from them.
    user_starts = _block_starts(shape[0], n_blocks)
    item_starts = _block_starts(shape[1], n_blocks)
    pieces = [dask.delayed(_user_pieces, nout=n_blocks, pure=True)(part, ids, user_starts)
              for part in encoded]
    user_blocks = [
        dask.delayed(_user_block, pure=True)(int(user_starts[b + 1] - user_starts[b]), shape[1],
                                             dtype, *[part[b] for part in pieces])
        for b in range(n_blocks)
    ]
    split = [dask.delayed(_item_pieces, nout=n_blocks, pure=True)(block, user_starts[b],
                                                                  item_starts)
             for b, block in enumerate(user_blocks)]
    item_blocks = [
        dask.delayed(_item_block, pure=True)(int(item_starts[c + 1] - item_starts[c]), shape[0],
                                             dtype, *[block[c] for block in split])
        for c in range(n_blocks)
    ]
    futures = client.compute(user_blocks + item_blocks)
    wait(futures)
    for future in futures:
        if future.status == "error":
            raise future.exception()
    return BlockLayout(shape=shape, user_starts=user_starts, item_starts=item_starts,
                       user_blocks=futures[:n_blocks], item_blocks=futures[n_blocks:],
                       user_ids=user_ids, item_ids=item_ids)


def _check_columns(ddf, arguments: dict) -> None:
    for argument in ("user_col", "item_col"):
        value = arguments[argument]
        if not isinstance(value, (str, numbers.Integral)):
            raise TypeError(f"{argument} must be a column name, got {type(value).__name__}")
    columns = list(ddf.columns)
    for argument, column in arguments.items():
        if column is not None and column not in columns:
            available = ", ".join(repr(c) for c in columns)
            raise ValueError(f"column {column!r} ({argument}) is not in the DataFrame; "
                             f"available columns: {available}")


def _block_starts(size: int, n_blocks: int) -> np.ndarray:
    """Boundaries of ``n_blocks`` contiguous blocks of sizes differing by at most one."""
    return np.arange(n_blocks + 1, dtype=np.int64) * size // n_blocks


# ------------------------------------------------------------------ round 1 (on the workers)
def _encode(part, index: int, columns: tuple) -> tuple:
    """A partition -> (summary, encoded): summary = (rows, sorted unique user ids, item ids),
    encoded = (user ids, user codes, item ids, item codes, float64 values or None); for an empty
    partition (0, None, None) and None."""
    if len(part) == 0:
        return (0, None, None), None
    user_col, item_col, value_col = columns
    try:
        users, user_codes = _frame_ids(part, user_col, "user_col")
        items, item_codes = _frame_ids(part, item_col, "item_col")
        values = None if value_col is None else _frame_numbers(part, value_col, "value_col")
    except (TypeError, ValueError) as error:
        raise type(error)(f"partition {index}: {error}") from None
    return (len(part), users, items), (users, user_codes, items, item_codes, values)


def _merge(columns: tuple, *summaries) -> tuple:
    return (sum(summary[0] for summary in summaries),
            _union([summary[1] for summary in summaries], columns[0], "user_col"),
            _union([summary[2] for summary in summaries], columns[1], "item_col"))


def _union(arrays: list, column, argument: str):
    arrays = [array for array in arrays if array is not None]
    if not arrays:
        return None
    if len({array.dtype.kind for array in arrays}) > 1:
        raise TypeError(f"column {column!r} ({argument}) must hold only integers or only "
                        "strings, got integers in some partitions and strings in others")
    return np.unique(np.concatenate(arrays))


# ------------------------------------------------------------------ round 2 (on the workers)
def _split(keys: np.ndarray, n_blocks: int) -> tuple:
    """(order, bounds): a stable order grouping ``keys`` (block numbers) and each block's range
    in it."""
    order = np.argsort(keys, kind="stable")
    bounds = np.zeros(n_blocks + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_blocks), out=bounds[1:])
    return order, bounds


def _user_pieces(encoded, ids: tuple, user_starts: np.ndarray) -> list:
    """A partition's events split by user block: (block rows, item columns, values or None)."""
    n_blocks = len(user_starts) - 1
    if encoded is None:
        return [None] * n_blocks
    users, user_codes, items, item_codes, values = encoded
    _, user_ids, item_ids = ids
    rows = np.searchsorted(user_ids, users)[user_codes]
    cols = np.searchsorted(item_ids, items)[item_codes].astype(np.int32)
    block = np.searchsorted(user_starts, rows, side="right") - 1
    order, bounds = _split(block, n_blocks)
    pieces = []
    for b in range(n_blocks):
        take = order[bounds[b]:bounds[b + 1]]
        pieces.append(((rows[take] - user_starts[b]).astype(np.int32), cols[take],
                       None if values is None else values[take]))
    return pieces


def _user_block(n_rows: int, n_items: int, dtype: np.dtype, *pieces) -> CsrArrays:
    """Coalesce a user block's events (pieces in partition order, each in row order) into
    canonical CSR as ``_readers._build`` does: float64 sums (or counts) in event order, stored
    as float32, then in ``dtype``; zero cells dropped."""
    pieces = [piece for piece in pieces if piece is not None]
    rows = np.concatenate([np.zeros(0, np.int64)] + [p[0] for p in pieces]).astype(np.int64)
    cols = np.concatenate([np.zeros(0, np.int64)] + [p[1] for p in pieces]).astype(np.int64)
    if rows.size == 0:
        return _empty_block(n_rows, n_items, dtype)
    key = rows * n_items + cols
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    if pieces[0][2] is None:
        summed = np.diff(np.append(starts, len(key))).astype(np.float64)
    else:
        values = np.concatenate([p[2] for p in pieces])
        summed = np.add.reduceat(values[order], starts)
    with np.errstate(over="ignore"):  # beyond float32: inf, as from_dataframe stores it
        data = summed.astype(np.float32).astype(dtype)
    keep = data != 0
    cell_rows, cell_cols = np.divmod(sorted_keys[starts][keep], n_items)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell_rows, minlength=n_rows), out=indptr[1:])
    return CsrArrays(indptr, cell_cols.astype(np.int32), data[keep], (n_rows, n_items))


def _item_pieces(block: CsrArrays, first_user, item_starts: np.ndarray) -> list:
    """A user block's cells split by item block: (block rows = items, users, values)."""
    n_blocks = len(item_starts) - 1
    users = np.repeat(np.arange(first_user, first_user + block.shape[0], dtype=np.int64),
                      np.diff(block.indptr)).astype(np.int32)
    item_block = np.searchsorted(item_starts, block.indices, side="right") - 1
    order, bounds = _split(item_block, n_blocks)
    pieces = []
    for c in range(n_blocks):
        take = order[bounds[c]:bounds[c + 1]]
        pieces.append(((block.indices[take] - item_starts[c]).astype(np.int32), users[take],
                       block.data[take]))
    return pieces


def _item_block(n_rows: int, n_users: int, dtype: np.dtype, *pieces) -> CsrArrays:
    """An item block's transposed rows from the pieces of every user block, in user order: a
    stable sort by item keeps the users of each item sorted."""
    items = np.concatenate([np.zeros(0, np.int32)] + [p[0] for p in pieces])
    users = np.concatenate([np.zeros(0, np.int32)] + [p[1] for p in pieces])
    data = np.concatenate([np.zeros(0, dtype)] + [p[2] for p in pieces])
    order = np.argsort(items, kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(items, minlength=n_rows), out=indptr[1:])
    return CsrArrays(indptr, users[order], data[order], (n_rows, n_users))


def _empty_block(n_rows: int, n_cols: int, dtype: np.dtype) -> CsrArrays:
    return CsrArrays(np.zeros(n_rows + 1, dtype=np.int64), np.zeros(0, dtype=np.int32),
                     np.zeros(0, dtype=dtype), (n_rows, n_cols))
