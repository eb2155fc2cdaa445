"""The formulas of the spectral model ``mfkit.SVD`` (its products with the interactions run in
the backend's ``csr_matmul``; see :mod:`mfkit._randomized_svd`).

Notation: R users × items, d_U / d_I its row / column sums, R̃ = D_U^{-γ} R D_I^{-β} the
normalized matrix, V its top-k right singular vectors. Scores follow the filter view of GF-CF
(Shen et al., CIKM 2021, eq. 9, ideal low-pass part; β = γ = 0 is PureSVD, Cremonesi et al.,
RecSys 2010): s_u = r_u D_I^{-β} V Vᵀ D_I^{β} · diag(d_I^δ) with a popularity exponent δ.
"""
from __future__ import annotations

import numpy as np


def degree_power(degrees: np.ndarray, exponent: float) -> np.ndarray:
    """``d ** exponent`` (float64) where ``d > 0``, and 0 for empty rows / columns (which then
    take no part in the fit and score 0)."""
    degrees = np.asarray(degrees, dtype=np.float64)
    positive = degrees > 0
    out = np.zeros_like(degrees)
    out[positive] = degrees[positive] ** exponent
    return out


def normalized_values(indptr, indices, data, row_weights, column_weights) -> np.ndarray:
    """The stored values of D_row R D_col (float64), for R in CSR arrays."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return data.astype(np.float64) * row_weights[rows] * column_weights[indices]


def svd_factors(V: np.ndarray, item_degrees: np.ndarray, item_exponent: float,
                popularity_exponent: float):
    """``(item_projection, item_factors)``: W = D_I^{-β} V, the map of a history row r_u to its
    user factor x_u = r_u W, and Y = D_I^{β+δ} V, so that x_u · y_i is the score above."""
    projection = V * degree_power(item_degrees, -item_exponent)[:, None]
    item_factors = V * degree_power(item_degrees, item_exponent + popularity_exponent)[:, None]
    return projection, item_factors


def spectral_scores(user_items, item_degrees, V, item_exponent: float,
                    popularity_exponent: float) -> np.ndarray:
    """Dense scores r_u D_I^{-β} V Vᵀ D_I^{β+δ} of the rows of ``user_items`` (for checks)."""
    projection, item_factors = svd_factors(V, item_degrees, item_exponent, popularity_exponent)
    return np.asarray(user_items @ projection) @ item_factors.T


def item_item_scores(history, matrix, matrix_t, popularity, weight: float) -> np.ndarray:
    """GF-CF's linear filter w · r_u ŘᵀŘ · diag(p) (Shen et al., CIKM 2021, eq. 7) of the rows
    of ``history`` as a dense float64 array, by two sparse products ``(r_u Řᵀ) Ř``: no
    items × items matrix is formed. ``matrix`` is Ř = D_U^{-½} R D_I^{-½} (CSR), ``matrix_t``
    its transpose (CSR), ``p`` the popularity weights."""
    return weight * ((history @ matrix_t) @ matrix).toarray() * popularity
