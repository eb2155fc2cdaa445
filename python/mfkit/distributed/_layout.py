"""The block layout of a distributed fit (placeholder: the lead keeps the fit engineer's copy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockLayout:
    shape: tuple            # (n_users, n_items)
    user_starts: np.ndarray # int64, block b holds users user_starts[b]:user_starts[b+1]
    item_starts: np.ndarray # likewise for items
    user_blocks: list       # dask Futures, block b -> CsrArrays of its users' rows (all item
                            # columns; model dtype; canonical; duplicates summed, zeros dropped)
    item_blocks: list       # Futures -> CsrArrays of the transposed rows of block b's items
    user_ids: np.ndarray | None   # raw ids (as mfkit.datasets.Interactions would sort them)
    item_ids: np.ndarray | None
