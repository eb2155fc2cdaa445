"""The block layout of a distributed fit: users and items in contiguous blocks whose CSR rows
live on the Dask workers, built once per fit (Spark's "InBlocks").

Every block is the result of a task whose inputs are in the task itself (not scattered data), so
Dask can rebuild the blocks of a lost worker on another one.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import distributed
import numpy as np

from .._containers import CsrArrays
from .._csr import csr_arrays, transposed
from .._interactions import Interactions, unwrap_interactions
from .._validation import check_bool, check_dtype, check_int, check_ratings, check_user_items
from ._client import worker_addresses


@dataclass(frozen=True)
class BlockLayout:
    """Users and items split into contiguous blocks, their interaction rows held by the workers.

    ``user_blocks[b]`` is a Dask future of the :class:`~mfkit._containers.CsrArrays` of users
    ``user_starts[b]:user_starts[b + 1]`` (all item columns; model dtype; canonical: sorted,
    duplicates summed, no stored zeros); ``item_blocks[b]`` likewise holds the transposed rows
    of block ``b``'s items. ``user_ids`` / ``item_ids`` are the raw ids of the rows and columns
    (sorted, as :class:`mfkit.datasets.Interactions` keeps them), or None. ``ratings``: built as
    explicit ratings (stored zeros kept, duplicates refused, as ``ExplicitMF.fit`` reads them)
    rather than as implicit interactions (duplicates summed, zeros dropped).
    """

    shape: tuple  # (n_users, n_items)
    user_starts: np.ndarray  # int64, block b holds users user_starts[b]:user_starts[b+1]
    item_starts: np.ndarray  # likewise for items
    user_blocks: list  # dask Futures of CsrArrays
    item_blocks: list
    user_ids: np.ndarray | None
    item_ids: np.ndarray | None
    ratings: bool = False


def block_starts(indptr: np.ndarray, n_blocks: int) -> np.ndarray:
    """Row boundaries of at most ``n_blocks`` contiguous blocks of about equal work (stored
    entries plus rows) for the CSR row pointers ``indptr``; no block is empty."""
    rows = len(indptr) - 1
    work = np.asarray(indptr, dtype=np.int64) + np.arange(rows + 1)
    cuts = np.searchsorted(work, np.linspace(0, work[-1], max(1, n_blocks) + 1)[1:-1])
    return np.unique(np.concatenate([[0], cuts, [rows]])).astype(np.int64)


def csr_block(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray,
              columns: int) -> CsrArrays:
    """The task that builds a block on a worker from its rows' slices (given in the task)."""
    return CsrArrays(indptr=np.asarray(indptr, dtype=np.int64),
                     indices=np.asarray(indices, dtype=np.int32), data=np.asarray(data),
                     shape=(len(indptr) - 1, columns))


def submit_blocks(client: distributed.Client, matrix: CsrArrays, starts: np.ndarray,
                  name: str) -> list:
    """Futures of the blocks ``starts`` of ``matrix``, spread over the workers (a preference
    only, so that a lost worker's blocks are rebuilt elsewhere)."""
    workers = worker_addresses(client)
    futures = []
    for b, (first, end) in enumerate(zip(starts[:-1], starts[1:])):
        begin, stop = matrix.indptr[first], matrix.indptr[end]
        futures.append(client.submit(
            csr_block, matrix.indptr[first:end + 1] - begin, matrix.indices[begin:stop],
            matrix.data[begin:stop], matrix.shape[1],
            key=f"mfkit-{name}-block-{b}-{uuid.uuid4().hex}",
            workers=[workers[b % len(workers)]], allow_other_workers=True))
    return futures


def layout_from_matrix(matrix, client: distributed.Client, n_blocks: int, dtype,
                       ratings: bool = False) -> BlockLayout:
    """The :class:`BlockLayout` of a users × items matrix (scipy sparse, 2-D array or
    :class:`mfkit.datasets.Interactions`), validated as a single-machine fit validates it
    (``ratings``: as ``ExplicitMF.fit`` validates explicit ratings, else as ``ALS.fit``) and
    transposed once on the client; then each block is sent to a worker in its own task."""
    if not isinstance(matrix, Interactions) and not hasattr(matrix, "shape"):
        raise TypeError("interactions must be a scipy.sparse matrix, an mfkit.datasets."
                        f"Interactions or a BlockLayout, got {type(matrix).__name__}")
    n_blocks = check_int(n_blocks, "n_blocks", 1)
    dtype = check_dtype(dtype)
    matrix, (user_ids, item_ids) = unwrap_interactions(matrix)
    ratings = check_bool(ratings, "ratings")
    check = check_ratings if ratings else check_user_items
    by_user = csr_arrays(check(matrix, dtype, name="ratings" if ratings else "interactions"))
    by_item = transposed(by_user)
    user_starts = block_starts(by_user.indptr, n_blocks)
    item_starts = block_starts(by_item.indptr, n_blocks)
    return BlockLayout(shape=by_user.shape, user_starts=user_starts, item_starts=item_starts,
                       user_blocks=submit_blocks(client, by_user, user_starts, "user"),
                       item_blocks=submit_blocks(client, by_item, item_starts, "item"),
                       user_ids=user_ids, item_ids=item_ids, ratings=ratings)
