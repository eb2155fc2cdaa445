"""Datasets: a seeded synthetic generator (the built-in demo data)."""
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
        Target share of nonzero cells in (0, 1]; the result has about this density (repeat draws
        make it slightly lower).
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
    draws_per_user = activity / activity.sum() * density * n_users * n_items * 1.1
    draws_per_user = np.clip(np.round(draws_per_user), 1, n_items).astype(np.int64)
    users = np.repeat(np.arange(n_users), draws_per_user)

    user_cluster = rng.integers(n_clusters, size=n_users)[users]
    in_cluster = (rng.random(len(users)) < 0.75) & (mass_end[user_cluster] > mass_start[user_cluster])
    low = np.where(in_cluster, mass_start[user_cluster], 0.0)
    high = np.where(in_cluster, mass_end[user_cluster], cumulative[-1])
    target = low + rng.random(len(users)) * (high - low)
    positions = np.minimum(np.searchsorted(cumulative, target, side="right"), n_items - 1)
    items = order[positions]

    counts = np.ones(len(users), dtype=np.float32)
    matrix = sp.csr_matrix((counts, (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix
