"""What a distributed call accepts as interactions, turned into a :class:`BlockLayout`."""
from __future__ import annotations

import dask
import distributed

from ._client import worker_addresses
from ._layout import BlockLayout, layout_from_matrix


def as_layout(interactions, client: distributed.Client, n_blocks, dtype,
              ratings: bool = False) -> BlockLayout:
    """``interactions`` (a BlockLayout, a scipy sparse matrix or an Interactions) as a
    BlockLayout of ``client``; ``n_blocks`` None: one block per worker; ``ratings``: explicit
    ratings (see :func:`layout_from_matrix`)."""
    if isinstance(interactions, BlockLayout):
        if interactions.ratings != ratings:
            built, wanted = ("ratings", "implicit interactions") if interactions.ratings \
                else ("implicit interactions", "explicit ratings")
            raise ValueError(f"the BlockLayout was built from {built}; this fit reads "
                             f"{wanted}: build it with layout_from_matrix(..., "
                             f"ratings={ratings})")
        if n_blocks is not None:
            raise ValueError("n_blocks cannot be given with a BlockLayout (it has its blocks)")
        foreign = [f.key for f in interactions.user_blocks + interactions.item_blocks
                   if f.client is not client]
        if foreign:
            raise ValueError(f"the BlockLayout belongs to another Dask client (e.g. block "
                             f"{foreign[0]!r}); build it with this client")
        return interactions
    if n_blocks is None:
        n_blocks = len(worker_addresses(client))
    if dask.is_dask_collection(interactions) and hasattr(interactions, "columns"):
        raise TypeError("a dask DataFrame needs its columns named: build the blocks with "
                        "mfkit.distributed.layout_from_dataframe(ddf, user_col, item_col, "
                        "value_col, client=..., n_blocks=..., dtype=...) and pass them")
    return layout_from_matrix(interactions, client, n_blocks, dtype, ratings)
