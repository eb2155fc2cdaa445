"""NMF's initial factors: random, custom, and NNDSVD from a randomized truncated SVD."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from .._randomized_svd import truncated_svd
from .._warnings import warn_caller

# NNDSVD entries below this are truncated to 0 before filling (as scikit-learn).
_NNDSVD_TRUNCATE = 1e-6


def data_mean(matrix: sp.csr_matrix, missing: str) -> float:
    """Mean of all cells, or of the stored entries with ``missing="ignore"``."""
    total = float(matrix.data.sum(dtype=np.float64))
    count = matrix.nnz if missing == "ignore" else matrix.shape[0] * matrix.shape[1]
    return total / count if count else 0.0


def custom_factor(value, shape, name, dtype) -> np.ndarray:
    """``W`` or ``H`` as given for ``init="custom"``, checked, as a C-contiguous copy."""
    if value is None:
        raise ValueError(f"init='custom' needs {name}: pass fit(X, W=..., H=...)")
    if sp.issparse(value):
        raise TypeError(f"{name} must be a dense array")
    array = np.asarray(value)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.iscomplexobj(array):
        raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if array.size and array.min() < 0:
        raise ValueError(f"{name} contains negative values")
    if not array.any():
        raise ValueError(f"{name} is all zeros")
    return np.array(array, dtype=dtype, order="C", copy=True)


def initial_factors(X, by_row, by_col, params, rng, W, H, backend, threads):
    """Initial ``(W, Hᵀ)``, both C-contiguous in the model dtype."""
    init, k, dtype = params["init"], params["n_components"], params["dtype"]
    n, m = X.shape
    if init != "custom" and (W is not None or H is not None):
        warn_caller("W and H are used only with init='custom'; ignoring them", RuntimeWarning)
    if init == "custom":
        W = custom_factor(W, (n, k), "W", dtype)
        H = custom_factor(H, (k, m), "H", dtype)
        return W, np.ascontiguousarray(H.T)
    if init is None:
        init = "nndsvda" if k <= min(n, m) else "random"
    mean = data_mean(X, params["missing"])
    if init == "random":
        scale = np.sqrt(mean / k)
        H = np.abs(scale * rng.standard_normal((m, k)))  # Hᵀ
        W = np.abs(scale * rng.standard_normal((n, k)))
        return W.astype(dtype), H.astype(dtype)
    if k > min(n, m):
        raise ValueError(f"init={init!r} needs n_components <= min(n_samples, n_features) = "
                         f"{min(n, m)}, got {k}; use init='random'")
    if params["solver"] == "mu" and init == "nndsvd":
        warn_caller("the multiplicative update ('mu') solver cannot update the zeros of "
                    "init='nndsvd'; init='nndsvda' or 'nndsvdar' usually fit better")
    # BLAS at one thread while numpy products alternate with OpenMP regions: on few cores, BLAS
    # threads spinning next to the OpenMP team slow both down many times over.
    with threadpool_limits(1, "blas"):
        U, S, Vt = truncated_svd(by_row, by_col, k, rng, backend, threads, dtype)
    return _nndsvd(U, S, Vt, init, mean, rng, dtype)


def _nndsvd(U, S, Vt, init, mean, rng, dtype):
    """NNDSVD factors ``(W, Hᵀ)`` from the leading singular triplets."""
    # NNDSVD (Boutsidis & Gallopoulos 2008): the leading pair as is (it is non-negative up
    # to sign); for every other pair, the positive or the negative parts of (u_j, v_j),
    # whichever has the larger product of norms, scaled by √(σ_j · that product). All pairs
    # at once; the choice is symmetric in the sign of the pair.
    U, V = U.astype(np.float64, copy=False), Vt.T.astype(np.float64)

    def part_norms(M):  # column norms of the positive and of the negative parts
        positive = np.maximum(M, 0)
        pos = np.einsum("ij,ij->j", positive, positive)
        neg = np.einsum("ij,ij->j", M, M) - pos
        return np.sqrt(pos), np.sqrt(np.maximum(neg, 0))

    (pu, nu), (pv, nv) = part_norms(U), part_norms(V)
    positive = pu * pv > nu * nv
    sign = np.where(positive, 1.0, -1.0)
    sigma = np.where(positive, pu * pv, nu * nv)
    nx, ny = np.where(positive, pu, nu), np.where(positive, pv, nv)
    scale = np.sqrt(S * sigma)
    ok = sigma > 0
    W = np.maximum(U * sign, 0)
    W *= np.where(ok, scale / np.where(ok, nx, 1), 0)
    H = np.maximum(V * sign, 0)  # Hᵀ
    H *= np.where(ok, scale / np.where(ok, ny, 1), 0)
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[:, 0] = np.sqrt(S[0]) * np.abs(V[:, 0])
    W[W < _NNDSVD_TRUNCATE] = 0
    H[H < _NNDSVD_TRUNCATE] = 0
    if init == "nndsvda":
        W[W == 0] = mean
        H[H == 0] = mean
    elif init == "nndsvdar":
        W[W == 0] = np.abs(mean * rng.standard_normal(np.count_nonzero(W == 0)) / 100)
        H[H == 0] = np.abs(mean * rng.standard_normal(np.count_nonzero(H == 0)) / 100)
    return W.astype(dtype), H.astype(dtype)

