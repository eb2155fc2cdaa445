"""Seeded synthetic implicit-feedback data (re-exported as ``mfkit.datasets.synthetic``)."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._validation import check_float, check_int


def synthetic(n_users: int = 2000, n_items: int = 1000, density: float = 0.02, seed: int = 0,
              n_clusters: int = 20) -> sp.csr_matrix:
    """A seeded implicit-feedback matrix that looks like real interaction logs.

    Item popularity follows a power law (Zipf, exponent 0.9), user activity a log-normal law,
    and every user has a favourite taste cluster of items: 75% of a user's interactions are
    drawn from that cluster, the rest from the whole catalogue, both popularity-weighted.
    Repeated draws of the same (user, item) add up, so values are interaction counts.

    Parameters
    ----------
    n_users, n_items : int
        Shape of the matrix.
    density : float
        Share of nonzero cells in (0, 1]; reached within about 2% (draws continue in rounds until
        then, so the counts of popular cells grow). Very dense requests may fall short.
    seed : int
        The same seed gives the same matrix.
    n_clusters : int
        Number of latent taste clusters.

    Returns
    -------
    scipy.sparse.csr_matrix of float32, users × items.
    """
    n_users = check_int(n_users, "n_users", 1)
    n_items = check_int(n_items, "n_items", 1)
    density = check_float(density, "density", 0.0)
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    seed = check_int(seed, "seed", 0)
    n_clusters = check_int(n_clusters, "n_clusters", 1)
    rng = np.random.default_rng(seed)

    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity = popularity[rng.permutation(n_items)]
    item_cluster = rng.integers(n_clusters, size=n_items)

    # Items ordered by cluster so each cluster owns one contiguous range of the cumulative mass.
    order = np.argsort(item_cluster, kind="stable")
    cumulative = np.cumsum(popularity[order])
    bounds = np.searchsorted(item_cluster[order], np.arange(n_clusters + 1))
    mass_start = np.concatenate(([0.0], cumulative))[bounds[:-1]]
    mass_end = np.concatenate(([0.0], cumulative))[bounds[1:]]

    activity = rng.lognormal(sigma=1.0, size=n_users)
    share = activity / activity.sum()
    user_cluster = rng.integers(n_clusters, size=n_users)

    def draw_items(users):
        """Popularity-weighted items; 75% from the user's cluster (one range of the mass)."""
        cluster = user_cluster[users]
        in_cluster = (rng.random(len(users)) < 0.75) & (mass_end[cluster] > mass_start[cluster])
        low = np.where(in_cluster, mass_start[cluster], 0.0)
        high = np.where(in_cluster, mass_end[cluster], cumulative[-1])
        target = low + rng.random(len(users)) * (high - low)
        return order[np.minimum(np.searchsorted(cumulative, target, side="right"), n_items - 1)]

    # Repeat draws land on cells already taken, so draw in rounds until the density is reached
    # (or nearly: a row can hold at most n_items entries).
    wanted = density * n_users * n_items
    matrix = sp.csr_matrix((n_users, n_items), dtype=np.float32)
    draws_per_entry = 1.1
    for _ in range(8):
        missing = wanted - matrix.nnz
        if missing <= 0.02 * wanted:
            break
        room = n_items - np.diff(matrix.indptr)
        per_user = np.minimum(np.round(share * missing * draws_per_entry), room).astype(np.int64)
        if matrix.nnz == 0:
            per_user = np.maximum(per_user, 1)  # every user has at least one interaction
        users = np.repeat(np.arange(n_users), per_user)
        if len(users) == 0:
            break
        before = matrix.nnz
        batch = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, draw_items(users))),
                              shape=(n_users, n_items))
        matrix = (matrix + batch).tocsr()
        draws_per_entry = len(users) / max(matrix.nnz - before, 1)
        draws_per_entry = min(draws_per_entry, 20.0)
    matrix.sum_duplicates()
    return matrix
