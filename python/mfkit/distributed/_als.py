"""Implicit ALS on a Dask cluster, with the single-machine fit's row solver and results.

Each block's rows stay on the worker that solves them between half-sweeps. Per half-sweep every
worker stacks the fixed factors from their blocks' rows (fetching those it lacks from the other
workers); one computes their gram YᵀY with the same kernel as :class:`mfkit.ALS` (over all rows,
in order; a tree of partial grams would round otherwise) and ships it to the others, and each
block of rows is solved by ``als_solve_rows``, warm-started from its current rows. The client
gathers the factors only at the end and for checkpoints. The blocks are rebuilt by Dask when a
worker is lost; an iteration that loses rows with a worker runs again from the client's last copy
of the factors (the initial ones or the latest checkpoint), replaying the iterations since: the
result stays the same.
"""
from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import distributed
import numpy as np
from distributed.client import FutureCancelledError

from .._base import get_backend
from .._progress import progress_bar
from .._threads import resolve_num_threads
from .._validation import all_finite, check_bool, check_callback, check_int, check_random_state
from ..exceptions import NumericalError
from ..models.als import ALS
from ..reference.als import regularization_offset, row_regularization
from ._checkpoint import load_checkpoint, save_checkpoint
from ._client import resolve_client, worker_addresses, worker_threads
from ._inputs import as_layout
from ._layout import BlockLayout
from ._woodbury import padded, padding_rows

log = logging.getLogger(__name__)

# Tries of a half-sweep (or loss) whose shipped data a lost worker took with it.
_ATTEMPTS = 3

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
    params = model._validate_params()
    check_callback(callback)
    show_progress = check_bool(show_progress, "show_progress")
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    if n_blocks is not None:
        n_blocks = check_int(n_blocks, "n_blocks", 1)
    client = resolve_client(client)
    layout = as_layout(interactions, client, n_blocks, params["dtype"])
    sweeps = _Sweeps(client, layout, params)
    state, first = _initial_state(model, params, layout, resume_from, sweeps.largest)
    total = params["iterations"]
    sweeps.start(state.user_factors, state.item_factors, first)
    bar = progress_bar(total - first, "ALS (Dask)", show_progress)
    try:
        for iteration in range(first, total):
            start = time.perf_counter()
            try:
                bad = sweeps.iterate(iteration)
            except NumericalError as error:
                raise model._singular(error, f"in iteration {iteration}", params,
                                      state.largest) from None
            elapsed = time.perf_counter() - start
            if bad:
                raise model._not_finite(f"{' and '.join(bad)} are",
                                        f"after iteration {iteration}", params, state.largest)
            loss = None
            if params["calculate_training_loss"]:
                loss = sweeps.loss(iteration + 1)
                state.loss_history.append(loss)
            if checkpoint_dir is not None and \
                    ((iteration + 1) % checkpoint_every == 0 or iteration + 1 == total):
                state.user_factors, state.item_factors = sweeps.gather(iteration + 1)
                save_checkpoint(_fitted(model, params, state, layout, iteration + 1),
                                checkpoint_dir, iteration + 1)
            bar.update(**({} if loss is None else {"loss": loss}))
            if callback is not None:
                callback(iteration, elapsed, loss)
    finally:
        bar.close()
    state.user_factors, state.item_factors = sweeps.gather(total)
    return _fitted(model, params, state, layout, total)


def _fitted(model: ALS, params: dict, state, layout: BlockLayout, iterations: int) -> ALS:
    """``model`` holding the fit state, as the fit template leaves a fitted model."""
    for name, value in model._finish(state, iterations).items():
        setattr(model, name, value)
    model.user_ids, model.item_ids = layout.user_ids, layout.item_ids
    model._params = params
    return model


def _initial_state(model: ALS, params: dict, layout: BlockLayout, resume_from, largest):
    """``(fit state, first iteration)``: the single-machine fit's initial factors, or those of
    the checkpoint ``resume_from``."""
    state = SimpleNamespace(largest=largest, loss_history=[])
    if resume_from is None:
        rng = check_random_state(params["random_state"])
        k, dtype = params["factors"], params["dtype"]
        state.user_factors = model._initial_factors(rng, layout.shape[0], k, dtype)
        state.item_factors = model._initial_factors(rng, layout.shape[1], k, dtype)
        return state, 0
    saved, done = load_checkpoint(resume_from)
    settings = saved._settings()
    differ = [f"{name}={settings[name]!r} there, {params[name]!r} here"
              for name in _RESUMED_ARGUMENTS if settings[name] != params[name]]
    if differ:
        raise ValueError("resume_from was written by a fit with other arguments: "
                         + "; ".join(differ))
    if (len(saved.user_factors), len(saved.item_factors)) != tuple(layout.shape):
        raise ValueError(f"resume_from was fitted on {len(saved.user_factors)} users x "
                         f"{len(saved.item_factors)} items, not {layout.shape[0]} x "
                         f"{layout.shape[1]}")
    state.user_factors, state.item_factors = saved.user_factors, saved.item_factors
    state.loss_history = list(saved.loss_history)
    return state, done


class _Sweeps:
    """The half-sweeps and the loss of one fit on the blocks of ``layout``."""

    def __init__(self, client: distributed.Client, layout: BlockLayout, params: dict):
        self.client, self.layout, self.params = client, layout, params
        self.backend = get_backend(params["backend"])
        self.threads = resolve_num_threads(params["num_threads"])
        options = ALS._solve_options(params)
        del options["num_threads"]  # each worker uses its own threads
        self.options = options
        summaries = {side: client.gather([client.submit(_summary, block, params)
                                          for block in self._blocks(side)])
                     for side in ("user", "item")}
        self.lengths = {side: [lengths for _, lengths in summaries[side]] for side in summaries}
        self.largest = self._check_magnitudes(
            max(largest for side in summaries.values() for largest, _ in side))
        fixed_rows = {"user": layout.shape[1], "item": layout.shape[0]}
        self.padding = {side: padding_rows(self.lengths[side], fixed_rows[side], params)
                        for side in summaries}
        k, rows = params["factors"], layout.shape
        log.info("ALS on Dask: %d user and %d item blocks; per half-sweep each worker stacks "
                 "the fixed factors whole (%.1f MB of users, %.1f MB of items) from the blocks' "
                 "rows and one computes their gram", len(layout.user_blocks),
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

    def _blocks(self, side: str) -> tuple:
        if side == "user":
            return self.layout.user_blocks
        return self.layout.item_blocks

    def _starts(self, side: str) -> np.ndarray:
        return self.layout.user_starts if side == "user" else self.layout.item_starts

    def _attempts(self, run, what: str):
        """``run()``, again (up to ``_ATTEMPTS`` times) when a lost worker took data it was
        given with it: the client still holds every array the call ships."""
        for _ in range(_ATTEMPTS):
            workers = set(worker_addresses(self.client))
            try:
                return run()
            except (FutureCancelledError, OSError) as error:
                lost = sorted(workers - set(self.client.nthreads()))
                log.warning("%s: lost worker(s) %s (%r); running it again", what,
                            ", ".join(lost) or "?", error)
        raise RuntimeError(f"{what} failed {_ATTEMPTS} times: Dask workers were lost "
                           f"({', '.join(lost) or 'unknown'}, the last)")

    def _near_blocks(self, blocks: list, arrays: list) -> list:
        """``arrays[b]`` scattered to the worker holding ``blocks[b]`` (any, if none does)."""
        holders = self.client.who_has(blocks)
        futures = [None] * len(blocks)
        by_worker = {}
        for b, block in enumerate(blocks):
            by_worker.setdefault(tuple(holders.get(block.key, ()))[:1], []).append(b)
        for worker, numbers in by_worker.items():
            scattered = self.client.scatter([arrays[b] for b in numbers], hash=False,
                                            workers=list(worker) or None)
            for b, future in zip(numbers, scattered):
                futures[b] = future
        return futures

    def start(self, user_factors: np.ndarray, item_factors: np.ndarray, done: int) -> None:
        """Hold the factors after ``done`` iterations: the client's copy to run again from, and
        each block's rows on the worker holding the block."""
        self.copy = (done, user_factors, item_factors)
        self.rows, self.stacked = None, {}

    def _restore(self, done: int) -> None:
        """The blocks' rows after ``done`` iterations: kept, or scattered from the client's copy
        and the iterations since run again."""
        if self.rows is not None:
            return
        copy_done, *factors = self.copy
        self.rows, self.stacked = {}, {}
        # Where the blocks are now (after a lost worker, elsewhere): the solves' loose pins.
        self.holders = {side: self._holders(side) for side in ("user", "item")}
        for side, whole in zip(("user", "item"), factors):
            starts = self._starts(side)
            self.rows[side] = self._near_blocks(
                self._blocks(side), [whole[a:b] for a, b in zip(starts[:-1], starts[1:])])
        for _ in range(copy_done, done):
            self._half_sweep("user")
            self._half_sweep("item")

    def _run(self, done: int, step, what: str):
        """``step()`` on the rows after ``done`` iterations, again from the client's copy (up to
        ``_ATTEMPTS`` times) when a worker took rows or shipped data with it."""
        def run():
            try:
                self._restore(done)
                return step()
            except (FutureCancelledError, OSError):
                self.rows = None
                raise
        return self._attempts(run, what)

    def _holders(self, side: str) -> list:
        """The worker holding each ``side`` block (None: none does)."""
        holders = self.client.who_has(self._blocks(side))
        return [next(iter(holders.get(block.key, ())), None) for block in self._blocks(side)]

    def _whole(self, side: str, worker):
        """A future of the ``side`` factors stacked from their blocks' rows on ``worker`` (each
        worker fetches the rows it lacks, in parallel)."""
        if (side, worker) not in self.stacked:
            where = dict(workers=[worker], allow_other_workers=True) if worker else {}
            self.stacked[side, worker] = self.client.submit(np.concatenate, self.rows[side],
                                                            pure=False, **where)
        return self.stacked[side, worker]

    def _half_sweep(self, side: str) -> None:
        """Solve the ``side`` blocks with the other side's factors held constant."""
        other = "item" if side == "user" else "user"
        holders = self.holders[side]
        # The gram of one worker's stack (all rows, in order, as ALS computes it) goes to all.
        gram = self.client.submit(_gram, self._whole(other, holders[0]), self.params,
                                  pure=False)
        # Pinned (loosely) to the block's worker: Dask would run them where the bigger fixed
        # factors are, one worker solving every block.
        self.rows[side] = [
            self.client.submit(_solve_block, block, self._whole(other, worker), gram, rows,
                               first, extra, self.options, self.params, pure=False,
                               **(dict(workers=[worker], allow_other_workers=True)
                                  if worker else {}))
            for block, worker, rows, first, extra in zip(
                self._blocks(side), holders, self.rows[side], self._starts(side),
                self.padding[side])]
        self.stacked = {key: value for key, value in self.stacked.items() if key[0] != side}

    def iterate(self, iteration: int) -> list:
        """Run iteration ``iteration``; the names of the factors that are not finite after it."""
        def step():
            self._half_sweep("user")
            self._half_sweep("item")
            worker = self.holders["user"][0]
            flags = self.client.gather([self.client.submit(all_finite, self._whole(side, worker),
                                                           pure=False)
                                        for side in ("user", "item")])
            return [f"{side}_factors" for side, finite in zip(("user", "item"), flags)
                    if not finite]
        return self._run(iteration, step, f"iteration {iteration}")

    def gather(self, done: int) -> tuple:
        """``(user factors, item factors)`` after ``done`` iterations, on the client (then the
        copy that a lost worker's rows are run again from)."""
        def step():
            return tuple(np.concatenate(self.client.gather(self.rows[side]))
                         for side in ("user", "item"))
        factors = self._run(done, step, "gathering the factors")
        self.copy = (done, *factors)
        return factors

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
                     for side in ("user", "item")}
            return self.client.gather((data, terms))

        data, terms = self._run(done, step, "the loss")
        total = float(np.sum(data))
        for side in ("user", "item"):
            total += float(np.sum(np.concatenate(terms[side])))
        return total


# ---------------------------------------------------------------------- tasks (on the workers)
def _summary(block, params: dict) -> tuple:
    """``(largest |value|, row lengths)`` of a block in the model dtype."""
    if block.data.dtype != params["dtype"]:
        raise ValueError(f"the BlockLayout holds {block.data.dtype} values, the model "
                         f"{np.dtype(params['dtype']).name}: build it with the model's dtype")
    return float(np.abs(block.data).max(initial=0.0)), np.diff(block.indptr)


def _solve_block(block, fixed, gram, current, first: int, extra: int, options: dict,
                 params: dict):
    rows = len(current)
    block, solved = padded(block, np.array(current), extra)
    try:
        get_backend(params["backend"]).als_solve_rows(
            block, fixed, gram, solved, num_threads=worker_threads(), **options,
            **ALS._solver_options(params))
    except NumericalError as error:  # the kernel counts the rows from the block's first
        raise NumericalError(re.sub(r"row (\d+)", lambda m: f"row {int(m[1]) + first}",
                                    str(error), count=1)) from None
    return solved[:rows]


def _gram(fixed, params: dict):
    return get_backend(params["backend"]).gram(fixed, num_threads=worker_threads())


def _block_regularization(block, rows, params: dict) -> np.ndarray:
    """Each row's regularization term in float64, as ``ALS`` weighs it."""
    offset = regularization_offset(params["regularization_scheme"], params["alpha"],
                                   block.shape[1])
    weights = row_regularization(params["regularization"], params["regularization_exponent"],
                                 np.diff(block.indptr).astype(np.float64), offset)
    return weights * np.einsum("ij,ij->i", rows, rows, dtype=np.float64)


def _block_loss(block, user_factors, item_factors, options: dict, params: dict) -> float:
    """The data terms of the block's users (no regularization)."""
    return get_backend(params["backend"]).als_loss(
        block, user_factors, item_factors, regularization=0.0, regularization_exponent=0.0,
        alpha=options["alpha"], num_threads=worker_threads())
