"""The Dask client of a distributed call: given, or the default one; checked to be usable."""
from __future__ import annotations

import distributed


def resolve_client(client) -> distributed.Client:
    """``client`` (a running ``distributed.Client``), or the default client when it is None."""
    if client is None:
        try:
            client = distributed.default_client()
        except ValueError:
            raise ValueError("no Dask client: pass client=distributed.Client(...) (e.g. of a "
                             "distributed.LocalCluster) or create one first") from None
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    if client.status != "running":
        raise ValueError(f"the Dask client is {client.status}: pass a running client")
    return client


def worker_addresses(client: distributed.Client) -> list:
    """The addresses of the workers connected now, sorted; ``ValueError`` when there are none.

    Asked of the scheduler each time (``Client.nthreads``): ``Client.scheduler_info`` is a copy
    the client refreshes in the background, and was seen empty for a moment mid-fit."""
    workers = sorted(client.nthreads())
    if not workers:
        raise ValueError("the Dask cluster has no workers")
    return workers


def worker_threads() -> int:
    """Threads of the worker running the calling task: its kernels' ``num_threads`` (the nanny
    sets ``OMP_NUM_THREADS=1`` in worker processes, so "all cores" would mean one)."""
    return distributed.get_worker().state.nthreads
