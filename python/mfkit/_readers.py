"""Readers of interaction logs into :class:`Interactions`: delimited text (no pandas needed),
DataFrames and MovieLens (re-exported by ``mfkit.datasets``)."""
from __future__ import annotations

import csv
import math
import numbers
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ._interactions import Interactions
from ._validation import check_str


def _index_dtype(*sizes) -> type:
    return np.int32 if max(sizes, default=0) < 2**31 else np.int64


def _build(user_ids, user_codes, item_ids, item_codes, values, timestamps) -> Interactions:
    """Coalesce (user, item) records into canonical CSR: values summed, timestamps maxed, zeros
    dropped."""
    n_users, n_items = len(user_ids), len(item_ids)
    key = user_codes.astype(np.int64) * n_items + item_codes.astype(np.int64)
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    unique_keys = sorted_keys[starts]
    if values is None:
        summed = np.diff(np.append(starts, len(key))).astype(np.float64)
    else:
        summed = np.add.reduceat(values[order], starts)
    latest = None if timestamps is None else np.maximum.reduceat(timestamps[order], starts)
    keep = summed != 0
    if not keep.all():
        unique_keys, summed = unique_keys[keep], summed[keep]
        latest = None if latest is None else latest[keep]
    rows, cols = np.divmod(unique_keys, n_items)
    index_dtype = _index_dtype(len(unique_keys), n_items)
    indptr = np.zeros(n_users + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    indices = cols.astype(index_dtype)
    shape = (n_users, n_items)
    matrix = sp.csr_matrix((summed.astype(np.float32), indices, indptr), shape=shape)
    ts_matrix = None
    if latest is not None:
        ts_matrix = sp.csr_matrix((latest, indices.copy(), indptr.copy()), shape=shape)
    return Interactions(matrix, user_ids, item_ids, ts_matrix)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------

def _encode_text_ids(texts: list) -> tuple:
    """Id strings -> (sorted unique ids, codes). int64 ids when every id is a canonical integer
    (``str(int(s)) == s``, so "7" and "-3" but not "007", "+7" or "7.0"), else str ids."""
    array = np.array(texts, dtype=str)
    unique, codes = np.unique(array, return_inverse=True)
    codes = codes.reshape(-1)
    try:
        as_int = unique.astype(np.int64)
    except (ValueError, OverflowError):
        return unique, codes
    if not np.array_equal(as_int.astype(str), unique):
        return unique, codes
    order = np.argsort(as_int, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return as_int[order], rank[codes]


def _column_position(header: list, column: str, argument: str, where: str) -> int:
    matches = [i for i, name in enumerate(header) if name == column]
    if not matches:
        available = ", ".join(repr(name) for name in header)
        raise ValueError(f"{where}, line 1: column {column!r} ({argument}) is not in the header; "
                         f"available columns: {available}")
    if len(matches) > 1:
        raise ValueError(f"{where}, line 1: column {column!r} ({argument}) appears {len(matches)} "
                         "times in the header")
    return matches[0]


def from_csv(path, user_col: str = "user", item_col: str = "item", value_col: str | None = None,
             timestamp_col: str | None = None, delimiter: str = ",") -> Interactions:
    """Read an interaction log from a delimited text file with a header line. Needs no pandas.

    Parameters
    ----------
    path : str or os.PathLike
        The file (UTF-8; a leading byte-order mark is ignored). A missing file raises
        FileNotFoundError.
    user_col, item_col : str
        Header names of the user and item id columns.
    value_col : str or None
        Header name of the value column (rating, count, weight). None: every row counts 1, so
        the matrix holds how often each (user, item) pair occurs.
    timestamp_col : str or None
        Header name of a numeric timestamp column (e.g. Unix seconds). The latest timestamp of
        each (user, item) cell is kept in ``Interactions.timestamps``.
    delimiter : str
        One character separating the fields.

    Semantics
    ---------
    - Fields are stripped of surrounding whitespace; completely blank lines are skipped (but
      still counted in line numbers); quoting follows the ``csv`` module (double quotes, which
      may follow spaces after a delimiter).
    - Ids: a column's ids become int64 when every id in it is a canonical decimal integer
      (``str(int(s)) == s``: "42", "-7"; not "042", "+7", "7.0"); otherwise all ids of that
      column stay strings ("042" and "42" are then different ids). Each column is decided on its
      own.
    - Repeated (user, item) rows are summed (values) and their latest timestamp kept; cells
      whose sum is 0 are not stored (their users and items still get ids).

    Raises
    ------
    ValueError
        Naming the 1-based line of the file (the header is line 1) and the problem: a requested
        column missing from the header (listing the available ones), a row with a different
        number of fields than the header, an empty id, a value or timestamp that is not a finite
        number; also for a file without a header or without data rows.
    """
    for argument, value in (("user_col", user_col), ("item_col", item_col)):
        check_str(value, argument)
    check_str(value_col, "value_col", allow_none=True)
    check_str(timestamp_col, "timestamp_col", allow_none=True)
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    columns = {"user_col": user_col, "item_col": item_col, "value_col": value_col,
               "timestamp_col": timestamp_col}
    used = [(arg, col) for arg, col in columns.items() if col is not None]
    for i, (arg, col) in enumerate(used):
        for other_arg, other_col in used[i + 1:]:
            if col == other_col:
                raise ValueError(f"{arg} and {other_arg} name the same column {col!r}")

    where = str(path)
    users, items, values, stamps = [], [], [], []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, skipinitialspace=True)
        header = None
        for row in reader:
            if row:
                header = [name.strip() for name in row]
                break
        if header is None:
            raise ValueError(f"{where} is empty: expected a header line naming the columns")
        if reader.line_num != 1:
            where_header = f"{where} (header on line {reader.line_num})"
        else:
            where_header = where
        n_fields = len(header)
        ui = _column_position(header, user_col, "user_col", where_header)
        ii = _column_position(header, item_col, "item_col", where_header)
        vi = (None if value_col is None
              else _column_position(header, value_col, "value_col", where_header))
        ti = (None if timestamp_col is None
              else _column_position(header, timestamp_col, "timestamp_col", where_header))

        def number(field: str, column: str, what: str, line: int) -> float:
            text = field.strip()
            try:
                parsed = float(text)
            except ValueError:
                raise ValueError(f"{where}, line {line}: {what} column {column!r} is not a number: "
                                 f"{text!r}") from None
            if not math.isfinite(parsed):
                raise ValueError(f"{where}, line {line}: {what} column {column!r} is not finite: "
                                 f"{text!r}")
            return parsed

        for row in reader:
            if not row:
                continue  # blank line
            line = reader.line_num
            if len(row) != n_fields:
                raise ValueError(f"{where}, line {line}: expected {n_fields} fields (as in the "
                                 f"header), got {len(row)}")
            user = row[ui].strip()
            item = row[ii].strip()
            if not user:
                raise ValueError(f"{where}, line {line}: empty user id (column {user_col!r})")
            if not item:
                raise ValueError(f"{where}, line {line}: empty item id (column {item_col!r})")
            users.append(user)
            items.append(item)
            if vi is not None:
                values.append(number(row[vi], value_col, "value", line))
            if ti is not None:
                stamps.append(number(row[ti], timestamp_col, "timestamp", line))
    if not users:
        raise ValueError(f"{where} has a header but no data rows")
    user_ids, user_codes = _encode_text_ids(users)
    item_ids, item_codes = _encode_text_ids(items)
    return _build(user_ids, user_codes, item_ids, item_codes,
                  None if vi is None else np.array(values, dtype=np.float64),
                  None if ti is None else np.array(stamps, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# DataFrame
# --------------------------------------------------------------------------------------------

def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except (TypeError, ValueError):
        return True  # pandas.NA: its comparisons are ambiguous


def _row_label(frame, position: int) -> str:
    try:
        label = frame.index[position]
    except Exception:  # noqa: BLE001 - only for the message
        return f"row {position}"
    if isinstance(label, np.generic):
        label = label.item()
    return f"row {position} (index label {label!r})"


def _frame_ids(frame, column: str, argument: str) -> tuple:
    """A DataFrame id column -> (sorted unique ids, codes); ids int64 or str."""
    data = np.asarray(frame[column].to_numpy())
    kind = data.dtype.kind
    if kind in "iu":
        if kind == "u" and data.size and data.max() > np.iinfo(np.int64).max:
            raise ValueError(f"column {column!r} ({argument}) has ids beyond the int64 range")
        data = data.astype(np.int64)
    elif kind == "U":
        empty = data == ""
        if empty.any():
            raise ValueError(f"{_row_label(frame, int(np.argmax(empty)))}: empty id in column "
                             f"{column!r} ({argument})")
    elif kind == "f":
        bad = ~np.isfinite(data)
        if bad.any():
            raise ValueError(f"{_row_label(frame, int(np.argmax(bad)))}: missing id in column "
                             f"{column!r} ({argument})")
        if not np.all(data == np.round(data)):
            raise TypeError(f"column {column!r} ({argument}) must hold integer or string ids, "
                            "got non-integral floats")
        data = data.astype(np.int64)
    elif kind == "O":
        objects = list(data)
        for position, value in enumerate(objects):
            if _is_missing(value):
                raise ValueError(f"{_row_label(frame, position)}: missing id in column "
                                 f"{column!r} ({argument})")
        if all(isinstance(v, str) for v in objects):
            for position, value in enumerate(objects):
                if value == "":
                    raise ValueError(f"{_row_label(frame, position)}: empty id in column "
                                     f"{column!r} ({argument})")
            data = np.array(objects, dtype=str)
        elif all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                 for v in objects):
            data = np.array(objects, dtype=np.int64)
        else:
            types = sorted({type(v).__name__ for v in objects})
            raise TypeError(f"column {column!r} ({argument}) must hold only integers or only "
                            f"strings, got {', '.join(types)}")
    else:
        raise TypeError(f"column {column!r} ({argument}) must hold integer or string ids, "
                        f"got dtype {data.dtype}")
    unique, codes = np.unique(data, return_inverse=True)
    return unique, codes.reshape(-1)


def _frame_numbers(frame, column: str, argument: str) -> np.ndarray:
    raw = np.asarray(frame[column].to_numpy())
    if raw.dtype.kind == "M":  # datetime64 -> seconds since the epoch
        missing = np.isnat(raw)
        if missing.any():
            raise ValueError(f"{_row_label(frame, int(np.argmax(missing)))}: missing value in "
                             f"column {column!r} ({argument})")
        return raw.astype("datetime64[ns]").astype(np.int64) / 1e9
    if raw.dtype.kind in "iufb":
        data = raw.astype(np.float64)
    else:
        data = np.empty(len(raw), dtype=np.float64)
        for position, value in enumerate(raw):
            if _is_missing(value):
                data[position] = np.nan
                continue
            try:
                if isinstance(value, str):
                    value = value.strip()
                data[position] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{_row_label(frame, position)}: column {column!r} ({argument}) "
                                 f"is not a number: {value!r}") from None
    bad = ~np.isfinite(data)
    if bad.any():
        position = int(np.argmax(bad))
        raise ValueError(f"{_row_label(frame, position)}: column {column!r} ({argument}) is "
                         f"missing or not finite: {raw[position]!r}")
    return data


def from_dataframe(df, user_col: str, item_col: str, value_col: str | None = None,
                   timestamp_col: str | None = None) -> Interactions:
    """Build :class:`Interactions` from a pandas DataFrame (anything with ``df[col].to_numpy()``).

    Same semantics as :func:`from_csv`: ``value_col=None`` counts rows, repeated (user, item)
    rows are summed and their latest timestamp kept, cells summing to 0 are not stored. Id
    columns must hold integers (kept as int64; integral floats are accepted) or strings (kept as
    str); ids are not re-parsed (the string "7" and the integer 7 are different). A datetime64
    timestamp column becomes seconds since the epoch. Problems raise ValueError/TypeError naming
    the column and, for bad values, the row position and index label.
    """
    for argument, value in (("user_col", user_col), ("item_col", item_col)):
        if not isinstance(value, str) and not isinstance(value, numbers.Integral):
            raise TypeError(f"{argument} must be a column name, got {type(value).__name__}")
    if not hasattr(df, "columns") or not hasattr(df, "__getitem__"):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    columns = list(df.columns)
    arguments = {"user_col": user_col, "item_col": item_col, "value_col": value_col,
                 "timestamp_col": timestamp_col}
    for argument, column in arguments.items():
        if column is not None and column not in columns:
            available = ", ".join(repr(c) for c in columns)
            raise ValueError(f"column {column!r} ({argument}) is not in the DataFrame; "
                             f"available columns: {available}")
    if len(df) == 0:
        raise ValueError("df has no rows")
    user_ids, user_codes = _frame_ids(df, user_col, "user_col")
    item_ids, item_codes = _frame_ids(df, item_col, "item_col")
    values = None if value_col is None else _frame_numbers(df, value_col, "value_col")
    stamps = None if timestamp_col is None else _frame_numbers(df, timestamp_col, "timestamp_col")
    return _build(user_ids, user_codes, item_ids, item_codes, values, stamps)


# --------------------------------------------------------------------------------------------
# MovieLens
# --------------------------------------------------------------------------------------------

def movielens_small(path=None) -> Interactions:
    """Load MovieLens "latest-small" ratings (userId, movieId, rating, timestamp) from ``path``.

    MovieLens is not bundled with mfkit (its terms of use do not allow redistribution):
    download ``ml-latest-small.zip`` from https://grouplens.org/datasets/movielens/, unpack it
    and pass the directory (or its ``ratings.csv``). Users and items keep their MovieLens ids
    (int64); values are the ratings (0.5-5 stars), timestamps Unix seconds. The release of
    September 2018 gives 610 users x 9724 items with 100836 ratings.
    """
    if path is None:
        raise ValueError(
            "MovieLens is not bundled with mfkit (its terms of use do not allow redistribution). "
            "Download ml-latest-small.zip from https://grouplens.org/datasets/movielens/, unpack "
            "it and pass the directory: movielens_small('path/to/ml-latest-small')"
        )
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    ratings = path / "ratings.csv" if path.is_dir() else path
    return from_csv(ratings, user_col="userId", item_col="movieId", value_col="rating",
                    timestamp_col="timestamp")
