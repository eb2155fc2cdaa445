"""Truncated SVD of a sparse matrix by randomized subspace iteration, products in the backend.

Used by NMF's NNDSVD initialization (:func:`truncated_svd`) and by the spectral model
``mfkit.SVD`` (:class:`SubspaceIteration`, one power step per fit iteration).
"""
from __future__ import annotations

import numpy as np


def orthonormalize(Z: np.ndarray, passes: int = 1) -> np.ndarray:
    """An orthonormal basis of the columns of ``Z`` (float64) through the eigenvectors of its
    Gram matrix ZᵀZ (cheap for a tall Z; directions below 1e-12 of the largest are damped)."""
    for _ in range(passes):  # a second pass repairs the first one's rounding
        w, V = np.linalg.eigh(Z.T @ Z)
        w = np.maximum(w, max(w[-1], 1e-300) * 1e-12)
        Z = Z @ (V / np.sqrt(w))
    return Z


class SubspaceIteration:
    """Randomized subspace iteration on a sparse X (Halko, Martinsson & Tropp, SIAM Review
    53(2), 2011, Alg. 4.4 and §4.5), one step at a time.

    With X oriented as A (long side × short side), a basis Z of the short side goes through
    steps Z ← Aᵀ(A Z), re-orthonormalized before each; then Y = A Z = U Σ (Z V)ᵀ restricted to
    Z is decomposed through the eigenvectors of YᵀY (:meth:`triplets`). Only the short-side
    basis is ever orthonormalized (cheap, float64, through its Gram matrix), and X stays sparse:
    the products with it run in the backend (A Z by gathering rows of Z; Aᵀ Y by scattering rows
    of Y on one thread, by gathering over Aᵀ on several, which scales better).

    Parameters
    ----------
    by_row, by_col : CsrArrays
        X by rows and its transpose (``_csr.transposed``), data in ``dtype``.
    backend : module
        ``mfkit._cpp`` or ``mfkit.reference`` (``csr_matmul``, ``csr_transpose_matmul``).
    threads : int
        Threads of the products.
    dtype : numpy dtype
        Precision of the products with X (the bases are kept in float64).
    """

    def __init__(self, by_row, by_col, backend, threads: int, dtype):
        n, m = by_row.shape
        self.rows_long = n >= m
        self.A, self.At = (by_row, by_col) if self.rows_long else (by_col, by_row)
        self.backend, self.threads, self.dtype = backend, threads, dtype

    @property
    def short(self) -> int:
        """Size of the short side (the rows of the basis Z)."""
        return self.A.shape[1]

    def start(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """A Gaussian basis of ``size`` columns on the short side."""
        return rng.standard_normal((self.short, size))

    def times(self, Z: np.ndarray) -> np.ndarray:
        """A Z in the products' dtype."""
        return self.backend.csr_matmul(self.A, np.ascontiguousarray(Z, dtype=self.dtype),
                                       num_threads=self.threads)

    def transposed_times(self, Y: np.ndarray) -> np.ndarray:
        """Aᵀ Y in float64."""
        if self.threads > 1:
            product = self.backend.csr_matmul(self.At, Y, num_threads=self.threads)
        else:
            product = self.backend.csr_transpose_matmul(self.A, self.At.indptr, Y,
                                                        num_threads=self.threads)
        return product.astype(np.float64)

    def step(self, Z: np.ndarray) -> np.ndarray:
        """One power step Z ← Aᵀ(A orth(Z))."""
        return self.transposed_times(self.times(orthonormalize(Z)))

    def triplets(self, Z: np.ndarray, k: int):
        """The top-``k`` singular triplets ``(U, S, Vt)`` of X within the basis ``Z``
        (Rayleigh–Ritz): U and Vt in the products' dtype on the long side, float64 on the
        short side; S float64, decreasing. Directions with σ below 1e-7 σ₁ get zero vectors on
        the long side."""
        Z = orthonormalize(Z, passes=2)
        Y = self.times(Z)  # model dtype: its gram and Y V below in that precision are ample here
        w, V = np.linalg.eigh((Y.T @ Y).astype(np.float64))
        order = np.argsort(w)[::-1][:k]
        S = np.sqrt(np.maximum(w[order], 0))
        V = V[:, order]
        scale = np.where(S > S[0] * 1e-7, 1 / np.where(S > 0, S, 1), 0) if S[0] > 0 else 0 * S
        U_long = (Y @ V.astype(Y.dtype)) * scale
        V_short = Z @ V
        return (U_long, S, V_short.T) if self.rows_long else (V_short, S, U_long.T)


def truncated_svd(by_row, by_col, k, rng, backend, threads, dtype):
    """Top-``k`` singular triplets ``(U, S, Vt)`` of X by :class:`SubspaceIteration`.

    The basis has at least k + 10 columns, rounded up to whole 16-column chunks of the C++
    products (Gaussian start), and goes through 7 power steps (4 when ``k`` >= 10% of the short
    side).
    """
    n, m = by_row.shape
    iteration = SubspaceIteration(by_row, by_col, backend, threads, dtype)
    size = min(-(-(k + 10) // 16) * 16, iteration.short)  # ≥ 10 extra, whole 16-column chunks
    steps = 7 if k < 0.1 * min(n, m) else 4
    Z = iteration.start(size, rng)
    for _ in range(steps):
        Z = iteration.step(Z)
    return iteration.triplets(Z, k)
