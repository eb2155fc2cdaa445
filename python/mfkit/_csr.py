"""The CSR arrays the C++ core reads, built with as few copies as the input allows.

The core's layout: int64 row pointers, int32 column indices, data in the model dtype, canonical
(sorted, no duplicates). An array already in that layout is used as it is (a view, never
modified); only what differs is converted.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._containers import CsrArrays


def csr_arrays(matrix: sp.csr_matrix) -> CsrArrays:
    """The arrays of a canonical CSR matrix in the core's layout (converted once per fit, not per
    call). Views of ``matrix``'s arrays where their type already fits."""
    nnz = int(matrix.indptr[-1])
    return CsrArrays(
        indptr=np.ascontiguousarray(matrix.indptr, dtype=np.int64),
        indices=np.ascontiguousarray(matrix.indices[:nnz], dtype=np.int32),
        data=np.ascontiguousarray(matrix.data[:nnz]),
        shape=matrix.shape,
    )


def transposed(matrix: CsrArrays) -> CsrArrays:
    """The transpose (columns as rows) in the core's layout, built once: its column indices and
    data are written directly in their final types; only the row pointers (columns + 1) are
    widened. Equal to ``csr_arrays(csr.T.tocsr())``."""
    rows, cols = matrix.shape
    nnz = len(matrix.indices)
    # With int32 index arrays scipy's transpose (csr_tocsc) works and writes in int32, so
    # neither the input indices nor the result need a converted copy.
    index = np.int32 if max(nnz, rows, cols) < 2**31 else np.int64
    by_row = sp.csr_matrix(
        (matrix.data, matrix.indices.astype(index, copy=False),
         matrix.indptr.astype(index, copy=False)),
        shape=matrix.shape, copy=False,
    )
    by_column = by_row.tocsc()
    return CsrArrays(
        indptr=by_column.indptr.astype(np.int64),
        indices=by_column.indices.astype(np.int32, copy=False),
        data=by_column.data,
        shape=(cols, rows),
    )
