"""Implicit ALS on a Dask cluster, with the single-machine fit's row solver and results.

Each block's rows stay on the worker that solves them between half-sweeps (:mod:`._sweeps`).
Per half-sweep every worker stacks the fixed factors from their blocks' rows (fetching those it
lacks from the other workers) and computes their gram YᵀY with the same kernel as
:class:`mfkit.ALS` (over all rows, in order; a tree of partial grams would round otherwise), and
each block of rows is solved by ``als_solve_rows`` on its worker, warm-started from its current
rows.
"""
from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import distributed
import numpy as np

from .._base import get_backend
from .._validation import check_random_state
from ..exceptions import NumericalError
from ..models.als import ALS
from ..reference.als import regularization_offset, row_regularization
from ._checkpoint import resumed
from ._client import worker_threads
from ._inputs import as_layout
from ._layout import BlockLayout
from ._sweeps import SIDES, BlockSweeps, checked_arguments, other_side, run_fit
from ._woodbury import padded, padding_rows

log = logging.getLogger(__name__)

# Arguments a resumed fit must share with the fit that wrote the checkpoint.
_RESUMED_ARGUMENTS = ("factors", "regularization", "alpha", "solver", "cg_steps",
                      "regularization_exponent", "dtype", "backend", "regularization_scheme",
                      "block_size", "block_sweeps")


def fit_als(interactions, client: distributed.Client | None = None, n_blocks: int | None = None,
            checkpoint_dir=None, checkpoint_every: int = 1, resume_from=None, callback=None,
            show_progress: bool = True, **params) -> ALS:
    """Fit :class:`mfkit.ALS` on a Dask cluster: the same factors as ``ALS(**params).fit``.

    Parameters
    ----------
    interactions : BlockLayout, scipy.sparse matrix or mfkit.datasets.Interactions
        Users × items (see ``ALS.fit``). A matrix is validated and split into blocks on the
        client (:func:`layout_from_matrix`); build the BlockLayout once to fit several times.
    client : distributed.Client, optional
        Default: the current default client.
    n_blocks : int, optional
        Blocks of users and of items (default: one per worker; not with a BlockLayout).
    checkpoint_dir : path, optional
        Every ``checkpoint_every`` iterations (and after the last) the factors are saved there
        as an ALS model (``als-iteration-NNNNNN.npz``, loadable with ``mfkit.load``) with a JSON
        file of the iterations done.
    resume_from : path, optional
        A checkpoint directory (its latest checkpoint) or a checkpoint's ``.json`` file: the fit
        continues from there, with the same result as an uninterrupted fit.
    callback, show_progress
        As in ``ALS.fit`` (iterations numbered from the start of the whole fit).
    **params
        The arguments of :class:`mfkit.ALS`; ``num_threads`` is used for the client's gram,
        the workers use all their threads.

    Returns
    -------
    mfkit.ALS
        An ordinary fitted model (factors gathered on the client, raw ids kept).
    """
    model = ALS(**params)
    params, client, n_blocks, checkpoint_every, show_progress = checked_arguments(
        model, client, n_blocks, checkpoint_every, callback, show_progress)
    layout = as_layout(interactions, client, n_blocks, params["dtype"])
    sweeps = _AlsSweeps(client, layout, params, model)
    state = SimpleNamespace(largest=sweeps.largest, loss_history=[])
    first = 0
    if resume_from is None:
        rng = check_random_state(params["random_state"])
        k, dtype = params["factors"], params["dtype"]
        state.user_rows = (model._initial_factors(rng, layout.shape[0], k, dtype),)
        state.item_rows = (model._initial_factors(rng, layout.shape[1], k, dtype),)
    else:
        saved, first = resumed(resume_from, ALS, params, _RESUMED_ARGUMENTS, layout.shape)
        state.user_rows, state.item_rows = (saved.user_factors,), (saved.item_factors,)
        state.loss_history = list(saved.loss_history)
    return run_fit(model, sweeps, state, first, label="ALS (Dask)", callback=callback,
                   show_progress=show_progress, checkpoint_dir=checkpoint_dir,
                   checkpoint_every=checkpoint_every)


class _AlsSweeps(BlockSweeps):
    """The half-sweeps and the loss of one ALS fit on the blocks of ``layout``."""

    def __init__(self, client: distributed.Client, layout: BlockLayout, params: dict,
                 model: ALS):
        super().__init__(client, layout, params)
        self.model = model
        options = ALS._solve_options(params)
        del options["num_threads"]  # each worker uses its own threads
        self.options = options
        summaries = self._summaries(_summary)
        self.lengths = {side: [lengths for _, lengths in summaries[side]] for side in SIDES}
        self.largest = self._check_magnitudes(
            max(largest for side in summaries.values() for largest, _ in side))
        fixed_rows = {"user": layout.shape[1], "item": layout.shape[0]}
        self.padding = {side: padding_rows(self.lengths[side], fixed_rows[side], params)
                        for side in SIDES}
        k, rows = params["factors"], layout.shape
        log.info("ALS on Dask: %d user and %d item blocks; per half-sweep each worker stacks "
                 "the fixed factors whole (%.1f MB of users, %.1f MB of items) from the blocks' "
                 "rows and computes their gram", len(layout.user_blocks),
                 len(layout.item_blocks),
                 rows[0] * k * np.dtype(params["dtype"]).itemsize / 1e6,
                 rows[1] * k * np.dtype(params["dtype"]).itemsize / 1e6)

    def _check_magnitudes(self, largest: float) -> float:
        """``ALS.fit``'s checks of the values and row lengths, on the blocks' extremes (the
        arrays those checks read: the largest value, the longest row of each side)."""
        values = SimpleNamespace(data=np.array([largest], dtype=self.params["dtype"]))
        largest = ALS._check_confidence(values, self.params, "interactions")
        others = {"user": self.layout.shape[1], "item": self.layout.shape[0]}
        ALS._check_row_regularization(self.params, *(
            SimpleNamespace(indptr=np.array([0, max(int(n.max(initial=0)) for n in lengths)]),
                            shape=(1, others[side]))
            for side, lengths in self.lengths.items()))
        return largest

    def _half_sweep(self, side: str) -> None:
        """Solve the ``side`` blocks with the other side's factors held constant."""
        other, holders = other_side(side), self.holders[side]
        # Every worker computes the gram of its own stack (all rows, in order, as ALS computes
        # it: the same bits everywhere), at the same time, rather than wait for one worker's.
        grams = {worker: self.client.submit(_gram, self._whole(other, worker), self.params,
                                            pure=False, **self._pin(worker))
                 for worker in dict.fromkeys(holders)}
        self._solved(side, [
            self.client.submit(_solve_block, block, self._whole(other, worker), grams[worker],
                               rows, first, extra, self.options, self.params, pure=False,
                               **self._pin(worker))
            for block, worker, rows, first, extra in zip(
                self._blocks(side), holders, self.rows[side], self._starts(side),
                self.padding[side])])

    def failed(self, error: NumericalError, iteration: int) -> NumericalError:
        return self.model._singular(error, f"in iteration {iteration}", self.params,
                                    self.largest)

    def wants_loss(self) -> bool:
        return self.params["calculate_training_loss"]

    def loss(self, done: int) -> float:
        """The objective as ``ALS`` computes it: the data terms of every user block (summed in
        block order) plus the regularization of both sides (summed over all rows in order)."""
        def step():
            data = [self.client.submit(_block_loss, block, rows, self._whole("item", worker),
                                       self.options, self.params, pure=False)
                    for block, worker, rows in zip(self.layout.user_blocks,
                                                   self.holders["user"], self.rows["user"])]
            terms = {side: [self.client.submit(_block_regularization, block, rows, self.params,
                                               pure=False)
                            for block, rows in zip(self._blocks(side), self.rows[side])]
                     for side in SIDES}
            return self.client.gather((data, terms))

        data, terms = self._run(done, step, "the loss")
        total = float(np.sum(data))
        for side in SIDES:
            total += float(np.sum(np.concatenate(terms[side])))
        return total


# ---------------------------------------------------------------------- tasks (on the workers)
def _summary(block, params: dict) -> tuple:
    """``(largest |value|, row lengths)`` of a block in the model dtype."""
    if block.data.dtype != params["dtype"]:
        raise ValueError(f"the BlockLayout holds {block.data.dtype} values, the model "
                         f"{np.dtype(params['dtype']).name}: build it with the model's dtype")
    return float(np.abs(block.data).max(initial=0.0)), np.diff(block.indptr)


def _solve_block(block, fixed: tuple, gram, current: tuple, first: int, extra: int,
                 options: dict, params: dict) -> tuple:
    rows = len(current[0])
    block, solved = padded(block, np.array(current[0]), extra)
    try:
        get_backend(params["backend"]).als_solve_rows(
            block, fixed[0], gram, solved, num_threads=worker_threads(), **options,
            **ALS._solver_options(params))
    except NumericalError as error:
        raise renumbered(error, first) from None
    return (solved[:rows],)


def renumbered(error: NumericalError, first: int) -> NumericalError:
    """``error`` of a kernel that counts the rows from the block's first, in whole-matrix rows."""
    return NumericalError(re.sub(r"row (\d+)", lambda m: f"row {int(m[1]) + first}",
                                 str(error), count=1))


def _gram(fixed: tuple, params: dict):
    return get_backend(params["backend"]).gram(fixed[0], num_threads=worker_threads())


def _block_regularization(block, rows: tuple, params: dict) -> np.ndarray:
    """Each row's regularization term in float64, as ``ALS`` weighs it."""
    offset = regularization_offset(params["regularization_scheme"], params["alpha"],
                                   block.shape[1])
    weights = row_regularization(params["regularization"], params["regularization_exponent"],
                                 np.diff(block.indptr).astype(np.float64), offset)
    return weights * np.einsum("ij,ij->i", rows[0], rows[0], dtype=np.float64)


def _block_loss(block, user_rows: tuple, item_rows: tuple, options: dict, params: dict) -> float:
    """The data terms of the block's users (no regularization)."""
    return get_backend(params["backend"]).als_loss(
        block, user_rows[0], item_rows[0], regularization=0.0, regularization_exponent=0.0,
        alpha=options["alpha"], num_threads=worker_threads())
