"""Blocks of rows that take the exact solver's path of the whole matrix.

With ``solver="cholesky"`` the C++ row solver (``als.hpp``, ``woodbury_factors``) solves rows
shorter than ``k`` by the Woodbury identity when, summed over the rows of the call, that saves
more flops than computing B⁻¹Y costs, and every row by a direct Cholesky otherwise. Both are
exact but round differently, and a block of rows can decide otherwise than the whole matrix. A
block that would decide otherwise gets extra one-entry rows (solved in O(k), then dropped), so
that every row is solved as in the single-machine fit. This restates the kernel's rule (the
kernel offers no switch); the cholesky equality tests of ``tests/test_distributed.py`` fail if
the two drift apart.
"""
from __future__ import annotations

import numpy as np

from .._containers import CsrArrays


def _savings(lengths: np.ndarray, k: int) -> float:
    """The kernel's estimate of the flops Woodbury saves, summed in row order as it sums."""
    n = lengths[(lengths > 0) & (lengths < k)].astype(np.float64)
    terms = (n * k * k / 2 + k * k * k / 6) - (n * n * k / 2 + n * n * n / 6)
    return float(np.cumsum(terms)[-1]) if len(terms) else 0.0


def padding_rows(block_lengths: list, fixed_rows: int, params: dict) -> list:
    """For each block (its row lengths), how many one-entry rows make it decide as the whole
    matrix does (0: none needed)."""
    k = params["factors"]
    if params["solver"] != "cholesky" or params["regularization_exponent"] != 0 \
            or not params["alpha"] > 0:
        return [0] * len(block_lengths)
    cost = float(fixed_rows) * k * k
    if _savings(np.concatenate(block_lengths), k) < cost:
        return [0] * len(block_lengths)  # no block saves more than the whole matrix
    per_row = _savings(np.ones(1, dtype=np.int64), k)
    return [0 if saved >= cost else int(np.ceil((cost - saved) / per_row)) + 1
            for saved in (_savings(lengths, k) for lengths in block_lengths)]


def padded(block: CsrArrays, solved: np.ndarray, rows: int) -> tuple:
    """``block`` and ``solved`` with ``rows`` more rows (one entry of value 1 in column 0)."""
    if rows == 0:
        return block, solved
    nnz = block.indptr[-1]
    indptr = np.concatenate([block.indptr, nnz + np.arange(1, rows + 1, dtype=np.int64)])
    indices = np.concatenate([block.indices, np.zeros(rows, dtype=np.int32)])
    data = np.concatenate([block.data, np.ones(rows, dtype=block.data.dtype)])
    extra = np.zeros((rows, solved.shape[1]), dtype=solved.dtype)
    return (CsrArrays(indptr, indices, data, (block.shape[0] + rows, block.shape[1])),
            np.concatenate([solved, extra]))
