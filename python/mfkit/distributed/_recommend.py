"""Top-N recommendations for every user, computed per user block on the workers and written as
Parquet (the nightly batch job)."""
from __future__ import annotations

import copy
import os

import distributed
import numpy as np
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
import scipy.sparse as sp

from .._base import Recommender
from .._validation import check_bool, check_int
from ..models.explicit import ExplicitMF
from ._client import resolve_client, worker_threads
from ._inputs import as_layout
from ._layout import BlockLayout


def recommend_all(model: Recommender, interactions, N: int = 10,
                  client: distributed.Client | None = None, path=None,
                  filter_already_liked_items: bool = True, n_blocks: int | None = None) -> list:
    """Write ``model.recommend``'s top ``N`` items of every user as Parquet files under
    ``path``, one file per user block (``part-NNNNN.parquet``), scored on the workers.

    Parameters
    ----------
    model : a fitted mfkit model
    interactions : BlockLayout, scipy.sparse matrix or mfkit.datasets.Interactions
        The users × items interactions (ratings, for an ExplicitMF) the model was fitted on:
        the items to filter out.
    N : int
    client : distributed.Client, optional
    path : str
        A directory every worker can write to: a local or shared path, or a URI pyarrow
        understands (``s3://...``).
    filter_already_liked_items : bool, default True
    n_blocks : int, optional
        User blocks when ``interactions`` is a matrix (default: one per worker).

    Returns
    -------
    list of str
        The files written. Their columns: ``user`` and ``item`` (raw ids when the model or the
        interactions have them, else row indices), ``rank`` (1 = best) and ``score``; users with
        fewer than ``N`` items left have fewer rows.
    """
    model._check_fitted()
    N = check_int(N, "N", 1)
    filter_liked = check_bool(filter_already_liked_items, "filter_already_liked_items")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a directory path or URI, got {type(path).__name__}")
    client = resolve_client(client)
    # Explicit ratings keep their stored zeros (a 0-star rating is still a rated item).
    ratings = interactions.ratings if isinstance(interactions, BlockLayout) else \
        isinstance(model, ExplicitMF)
    layout = as_layout(interactions, client, n_blocks, model.item_factors.dtype, ratings)
    shape = (len(model.user_factors), len(model.item_factors))
    if tuple(layout.shape) != shape:
        raise ValueError(f"interactions have shape {tuple(layout.shape)}, the model was fitted "
                         f"on {shape}")
    user_ids = _ids(model.user_ids, layout.user_ids, shape[0], "user")
    item_ids = _ids(model.item_ids, layout.item_ids, shape[1], "item")
    path = os.fspath(path)
    filesystem, base = pyarrow.fs.FileSystem.from_uri(
        path if "://" in path else os.path.abspath(path))
    filesystem.create_dir(base, recursive=True)  # here, to fail early
    # In tasks rather than scattered: Dask can recompute them when a worker is lost.
    held = client.submit(_same, model, pure=False), client.submit(_same, item_ids, pure=False)
    starts = layout.user_starts
    files = [client.submit(_recommend_block, *held, block, a, user_ids[a:b], N, filter_liked,
                           filesystem, base, f"part-{number:05d}.parquet", pure=False)
             for number, (block, a, b) in enumerate(zip(layout.user_blocks, starts[:-1],
                                                         starts[1:]))]
    return client.gather(files)


def _ids(model_ids, layout_ids, count: int, kind: str) -> np.ndarray:
    """The raw ids to write (the model's, else the layout's, else the row indices)."""
    if model_ids is not None and layout_ids is not None and \
            not np.array_equal(np.asarray(model_ids), np.asarray(layout_ids)):
        raise ValueError(f"the interactions' raw {kind} ids differ from the model's")
    ids = model_ids if model_ids is not None else layout_ids
    return np.arange(count, dtype=np.int64) if ids is None else np.asarray(ids)


def _same(value):
    return value


def _recommend_block(model, item_ids, block, first: int, user_ids, N: int, filter_liked: bool,
                     filesystem, directory: str, name: str) -> str:
    model = copy.copy(model)  # shared by the worker's tasks: set threads on a copy
    model.set_params(num_threads=worker_threads())
    rows = sp.csr_matrix((block.data, block.indices, block.indptr), shape=block.shape)
    users = np.arange(first, first + block.shape[0])
    ids, scores = model.recommend(users, rows if filter_liked else None, N=N,
                                  filter_already_liked_items=filter_liked)
    found = ids >= 0
    table = pa.table({
        "user": np.repeat(user_ids, ids.shape[1]).reshape(ids.shape)[found],
        "rank": np.broadcast_to(np.arange(1, ids.shape[1] + 1, dtype=np.int32), ids.shape)[found],
        "item": item_ids[ids[found]],
        "score": scores[found],
    })
    filesystem.create_dir(directory, recursive=True)  # also on a worker's own disk
    pq.write_table(table, f"{directory}/{name}", filesystem=filesystem)
    return f"{directory}/{name}"
