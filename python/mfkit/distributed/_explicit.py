"""Explicit ALS-WR (``ExplicitMF(solver="als")``) on a Dask cluster, with the single-machine
fit's row solver and results.

The same fit by blocks as ALS (:mod:`._sweeps`), with a row's factors and bias solved together:
every worker stacks the fixed side's factors and biases from their blocks' rows and each block
is solved by ``explicit_als_solve_rows`` on its worker. No gram: ALS-WR reads the observed
ratings only. The global mean is the exact mean of all ratings (the blocks' exact sums added),
the very number ``ExplicitMF.fit`` computes, so the factors equal the single-machine ones bit
for bit.
"""
from __future__ import annotations

from types import SimpleNamespace

import distributed
import numpy as np

from .._base import get_backend
from .._exact_sum import exact_sum
from .._init_factors import normal_factors
from .._validation import check_magnitude, check_random_state
from ..exceptions import NumericalError
from ..models.explicit import ExplicitMF
from ._als import renumbered
from ._checkpoint import resumed
from ._client import worker_threads
from ._inputs import as_layout
from ._layout import BlockLayout
from ._sweeps import SIDES, BlockSweeps, checked_arguments, other_side, run_fit

# Arguments a resumed fit must share with the fit that wrote the checkpoint.
_RESUMED_ARGUMENTS = ("factors", "regularization", "biased", "dtype", "backend")


def fit_explicit_als(ratings, client: distributed.Client | None = None,
                     n_blocks: int | None = None, checkpoint_dir=None, checkpoint_every: int = 1,
                     resume_from=None, callback=None, show_progress: bool = True,
                     **params) -> ExplicitMF:
    """Fit :class:`mfkit.ExplicitMF` by ALS-WR on a Dask cluster: the same model as
    ``ExplicitMF(solver="als", **params).fit``.

    Parameters
    ----------
    ratings : BlockLayout, scipy.sparse matrix, 2-D array or mfkit.datasets.Interactions
        Users × items explicit ratings, read as ``ExplicitMF.fit`` reads them (every stored
        entry is a rating; in a dense array 0 means missing). A matrix is validated and split
        into blocks on the client; a BlockLayout must be built with
        ``layout_from_matrix(..., ratings=True)``.
    client : distributed.Client, optional
        Default: the current default client.
    n_blocks : int, optional
        Blocks of users and of items (default: one per worker; not with a BlockLayout).
    checkpoint_dir, checkpoint_every, resume_from
        As in :func:`fit_als` (the checkpoints are ExplicitMF models,
        ``explicitmf-iteration-NNNNNN.npz``).
    callback, show_progress
        As in ``ExplicitMF.fit``: ``callback(iteration, elapsed_seconds, loss)``.
    **params
        The arguments of :class:`mfkit.ExplicitMF`; ``solver`` is ``"als"`` (the default here:
        stratified SGD is not distributed). The workers use all their threads.

    Returns
    -------
    mfkit.ExplicitMF
        An ordinary fitted model (factors and biases gathered on the client, raw ids kept).
    """
    params.setdefault("solver", "als")
    if params["solver"] != "als":
        raise ValueError(f"fit_explicit_als fits ALS-WR: solver must be 'als', got "
                         f"{params['solver']!r} (stratified SGD runs on one machine: "
                         "ExplicitMF(solver='sgd').fit)")
    model = ExplicitMF(**params)
    params, client, n_blocks, checkpoint_every, show_progress = checked_arguments(
        model, client, n_blocks, checkpoint_every, callback, show_progress)
    layout = as_layout(ratings, client, n_blocks, params["dtype"], ratings=True)
    sweeps = _ExplicitSweeps(client, layout, params, model)
    state = SimpleNamespace(params=params, largest=sweeps.largest, loss_history=[],
                            global_mean=sweeps.common["global_mean"],
                            rating_range=sweeps.rating_range)
    first = 0
    if resume_from is None:
        state.user_rows, state.item_rows = sweeps.initial_rows()
    else:
        saved, first = resumed(resume_from, ExplicitMF, params, _RESUMED_ARGUMENTS,
                               layout.shape)
        state.user_rows = (saved.user_factors, saved.user_bias)
        state.item_rows = (saved.item_factors, saved.item_bias)
        state.loss_history = list(saved.loss_history)
    return run_fit(model, sweeps, state, first, label="ExplicitMF (als, Dask)",
                   callback=callback, show_progress=show_progress,
                   checkpoint_dir=checkpoint_dir, checkpoint_every=checkpoint_every)


class _ExplicitSweeps(BlockSweeps):
    """The half-sweeps and the loss of one ALS-WR fit on the blocks of ``layout``."""

    parts = ("factors", "bias")

    def __init__(self, client: distributed.Client, layout: BlockLayout, params: dict,
                 model: ExplicitMF):
        super().__init__(client, layout, params)
        self.model = model
        summaries = self._summaries(_summary)
        self.lengths = {side: [summary["lengths"] for summary in summaries[side]]
                        for side in SIDES}
        users = summaries["user"]
        count = sum(int(summary["lengths"].sum()) for summary in users)
        if count == 0:
            raise ValueError("ratings holds no observed rating")
        dtype = params["dtype"]
        # ExplicitMF.fit's check of the ratings, on the blocks' largest |rating|.
        self.largest = check_magnitude(
            np.array([max(summary["largest"] for summary in users)]),
            float(np.sqrt(np.finfo(dtype).max)), "ratings",
            f"squared errors must stay finite in {np.dtype(dtype).name}",
            "scale the ratings down or use dtype=np.float64")
        self.rating_range = np.array([min(summary["low"] for summary in users),
                                      max(summary["high"] for summary in users)])
        mean = float(sum((summary["sum"] for summary in users), 0) / count)
        self.common = dict(global_mean=mean, regularization=params["regularization"],
                           biased=params["biased"])

    def initial_rows(self) -> tuple:
        """``ExplicitMF.fit``'s initial (factors, biases) of users and of items: normal factors
        drawn users first, zero for rows without ratings, zero biases."""
        rng = check_random_state(self.params["random_state"])
        k, dtype = self.params["factors"], self.params["dtype"]
        rows = []
        for count in self.layout.shape:
            factors = normal_factors(rng, self.params["init_std"], np.empty((count, k), dtype))
            rows.append([factors, np.zeros(count, dtype=dtype)])
        for (factors, _), lengths in zip(rows, self.lengths.values()):
            factors[np.concatenate(lengths) == 0] = 0
        return tuple(map(tuple, rows))

    def _half_sweep(self, side: str) -> None:
        """Solve the ``side`` blocks (factors and biases) with the other side held constant."""
        other = other_side(side)
        self._solved(side, [
            self.client.submit(_solve_block, block, self._whole(other, worker), rows, first,
                               self.common, self.params, pure=False, **self._pin(worker))
            for block, worker, rows, first in zip(self._blocks(side), self.holders[side],
                                                  self.rows[side], self._starts(side))])

    def failed(self, error: NumericalError, iteration: int) -> NumericalError:
        what = str(error).split(";")[0]
        return NumericalError(f"{what} in iteration {iteration}; "
                              f"{self.model._remedy(self.params, self.largest)}")

    def wants_loss(self) -> bool:
        return True

    def loss(self, done: int) -> float:
        """``L`` as ``ExplicitMF`` computes it (every term belongs to a rating, so to a user
        row): the users' blocks' sums, added in block order."""
        def step():
            return self.client.gather([
                self.client.submit(_block_loss, block, rows, self._whole("item", worker),
                                   self.common, self.params, pure=False)
                for block, worker, rows in zip(self.layout.user_blocks, self.holders["user"],
                                               self.rows["user"])])
        return float(np.sum(self._run(done, step, "the loss")))


# ---------------------------------------------------------------------- tasks (on the workers)
def _summary(block, params: dict) -> dict:
    """A block's row lengths and the figures of its ratings the fit needs."""
    if block.data.dtype != params["dtype"]:
        raise ValueError(f"the BlockLayout holds {block.data.dtype} values, the model "
                         f"{np.dtype(params['dtype']).name}: build it with the model's dtype")
    values = block.data.astype(np.float64)
    return dict(lengths=np.diff(block.indptr), sum=exact_sum(values),
                largest=float(np.abs(values).max(initial=0.0)),
                low=float(values.min(initial=np.inf)), high=float(values.max(initial=-np.inf)))


def _solve_block(block, fixed: tuple, current: tuple, first: int, common: dict,
                 params: dict) -> tuple:
    factors, bias = np.array(current[0]), np.array(current[1])
    try:
        get_backend(params["backend"]).explicit_als_solve_rows(
            block, fixed[0], fixed[1], factors, bias, num_threads=worker_threads(), **common)
    except NumericalError as error:
        raise renumbered(error, first) from None
    return factors, bias


def _block_loss(block, user_rows: tuple, item_rows: tuple, common: dict, params: dict) -> float:
    return get_backend(params["backend"]).explicit_loss(
        block, user_rows[0], item_rows[0], user_rows[1], item_rows[1],
        num_threads=worker_threads(), **common)
