"""Truncated SVD of a sparse matrix by randomized subspace iteration, products in the backend.

Used by NMF's NNDSVD initialization; written for any model that needs the leading singular
triplets of an interactions matrix without densifying it.
"""
from __future__ import annotations

import numpy as np


def truncated_svd(by_row, by_col, k, rng, backend, threads, dtype):
    """Top-``k`` singular triplets ``(U, S, Vt)`` of X by randomized subspace iteration
    (Halko, Martinsson & Tropp, SIAM Review 53(2), 2011, Alg. 4.4 and §4.5).

    With X oriented as A (long side × short side), a basis Z of the short side (at least
    k + 10 columns, rounded up to whole 16-column chunks of the C++ products; Gaussian start)
    goes through 7 steps Z ← Aᵀ(A Z) (4 when ``k`` >= 10% of the short side),
    re-orthonormalized before each; then Y = A Z = U Σ (Z V)ᵀ restricted to Z is decomposed
    through the eigenvectors of YᵀY. Only the short-side basis is ever orthonormalized
    (cheap, float64, through its Gram matrix), and X stays sparse: the products with it run
    in C++ (A Z by gathering rows of Z; Aᵀ Y by scattering rows of Y on one thread, by
    gathering over Aᵀ on several, which scales better).
    """
    n, m = by_row.shape
    A, At = (by_row, by_col) if n >= m else (by_col, by_row)
    short = A.shape[1]
    size = min(-(-(k + 10) // 16) * 16, short)  # ≥ 10 extra, whole 16-column chunks
    steps = 7 if k < 0.1 * min(n, m) else 4

    def orthonormalize(Z, passes=1):
        for _ in range(passes):  # a second pass repairs the first one's rounding
            w, V = np.linalg.eigh(Z.T @ Z)
            w = np.maximum(w, max(w[-1], 1e-300) * 1e-12)
            Z = Z @ (V / np.sqrt(w))
        return Z

    def times(Z):  # A Z, model dtype
        return backend.csr_matmul(A, np.ascontiguousarray(Z, dtype=dtype), num_threads=threads)

    def transposed_times(Y):  # Aᵀ Y, float64
        if threads > 1:
            product = backend.csr_matmul(At, Y, num_threads=threads)
        else:
            product = backend.csr_transpose_matmul(A, At.indptr, Y, num_threads=threads)
        return product.astype(np.float64)

    Z = rng.standard_normal((short, size))
    for _ in range(steps):
        Z = transposed_times(times(orthonormalize(Z)))
    Z = orthonormalize(Z, passes=2)
    Y = times(Z)  # model dtype: its gram and Y V below in that precision are ample here
    w, V = np.linalg.eigh((Y.T @ Y).astype(np.float64))
    order = np.argsort(w)[::-1][:k]
    S = np.sqrt(np.maximum(w[order], 0))
    V = V[:, order]
    scale = np.where(S > S[0] * 1e-7, 1 / np.where(S > 0, S, 1), 0) if S[0] > 0 else 0 * S
    U_long = (Y @ V.astype(Y.dtype)) * scale
    V_short = Z @ V
    return (U_long, S, V_short.T) if n >= m else (V_short, S, U_long.T)

