"""The plain containers the kernels of both backends read (no logic, no imports of the package).

Built once per fit by the model code (see :mod:`mfkit._validation`), read by :mod:`mfkit._cpp`
and :mod:`mfkit.reference` alike.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CsrArrays(NamedTuple):
    """The arrays the C++ core reads: int64 row pointers, int32 column indices, model-dtype data."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple


class RatingBlocks(NamedTuple):
    """Observed ratings as (user, item, rating) triplets grouped in a ``grid × grid`` array of
    blocks, the layout of the stratified SGD kernels (``mfkit/explicit_mf.hpp``).

    Block ``ub * grid + ib`` holds entries ``block_ptr[b] : block_ptr[b + 1]``, all with
    ``user_block[user] == ub`` and ``item_block[item] == ib``.
    """

    users: np.ndarray  # int32 (nnz,)
    items: np.ndarray  # int32 (nnz,)
    ratings: np.ndarray  # model dtype (nnz,)
    block_ptr: np.ndarray  # int64 (grid * grid + 1,)
    user_block: np.ndarray  # int32 (n_users,)
    item_block: np.ndarray  # int32 (n_items,)
    grid: int


class BprIndex(NamedTuple):
    """What the BPR sampler reads besides the CSR arrays, built once per fit by ``bpr_index``."""

    entry_rows: np.ndarray  # int32, the row (user) of every stored entry
    pair_filter: np.ndarray | None = None  # C++ only: membership filter (speed only)
