"""The alternating fit by blocks that distributed ALS and ALS-WR share: each block's rows of
factors stay on the worker that solves them; the client holds a copy to run again from.

A side's rows are a tuple of arrays (ALS: the factors; ALS-WR: the factors and the biases),
``rows[side][b]`` a future of block ``b``'s slice of each. A subclass gives the half-sweep
(``_half_sweep``), the loss, the per-block summaries it checks the data with, and what a solver
failure means. The client gathers the rows only at the end and for checkpoints; an iteration
that loses rows with a worker runs again from the client's last copy (the initial rows or the
latest checkpoint), replaying the iterations since: the result stays the same.
"""
from __future__ import annotations

import copy
import functools
import logging
import time

import distributed
import numpy as np
from distributed.client import FutureCancelledError

from .._base import get_backend
from .._fit_events import check_callback, notify
from .._progress import progress_bar
from .._validation import all_finite, check_bool, check_int
from ..exceptions import NumericalError
from ._checkpoint import save_checkpoint
from ._client import resolve_client, worker_addresses
from ._layout import BlockLayout

log = logging.getLogger(__name__)

# Tries of a step whose shipped data a lost worker took with it.
_ATTEMPTS = 3

SIDES = ("user", "item")


def other_side(side: str) -> str:
    return "item" if side == "user" else "user"


class BlockSweeps:
    """The rows of one fit on the blocks of ``layout``; ``parts`` names the arrays of a side's
    rows (``{side}_{part}`` in messages)."""

    parts = ("factors",)

    def __init__(self, client: distributed.Client, layout: BlockLayout, params: dict):
        self.client, self.layout, self.params = client, layout, params
        self.backend = get_backend(params["backend"])

    def _summaries(self, task) -> dict:
        """``{side: [task(block, params) for each block]}``, computed on the workers."""
        return {side: self.client.gather([self.client.submit(task, block, self.params)
                                          for block in self._blocks(side)])
                for side in SIDES}

    def _blocks(self, side: str) -> tuple:
        return self.layout.user_blocks if side == "user" else self.layout.item_blocks

    def _starts(self, side: str) -> np.ndarray:
        return self.layout.user_starts if side == "user" else self.layout.item_starts

    @staticmethod
    def _pin(worker) -> dict:
        """A loose pin to ``worker`` (Dask would run a solve where the bigger fixed factors
        are, one worker solving every block)."""
        return dict(workers=[worker], allow_other_workers=True) if worker else {}

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

    def start(self, user_rows: tuple, item_rows: tuple, done: int) -> None:
        """Hold the rows after ``done`` iterations: the client's copy to run again from, and
        each block's rows on the worker holding the block."""
        self.copy = (done, user_rows, item_rows)
        self.rows, self.stacked = None, {}

    def _restore(self, done: int) -> None:
        """The blocks' rows after ``done`` iterations: kept, or scattered from the client's copy
        and the iterations since run again."""
        if self.rows is not None:
            return
        copy_done, *whole = self.copy
        self.rows, self.stacked = {}, {}
        # Where the blocks are now (after a lost worker, elsewhere): the solves' loose pins.
        self.holders = {side: self._holders(side) for side in SIDES}
        for side, arrays in zip(SIDES, whole):
            starts = self._starts(side)
            self.rows[side] = self._near_blocks(
                self._blocks(side), [tuple(array[a:b] for array in arrays)
                                     for a, b in zip(starts[:-1], starts[1:])])
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
        """A future of the ``side`` rows stacked from their blocks on ``worker`` (each worker
        fetches the rows it lacks, in parallel)."""
        if (side, worker) not in self.stacked:
            self.stacked[side, worker] = self.client.submit(stack_rows, self.rows[side],
                                                            pure=False, **self._pin(worker))
        return self.stacked[side, worker]

    def _solved(self, side: str, rows: list) -> None:
        """``rows`` are the ``side`` blocks' new rows: stacks of the old ones are stale."""
        self.rows[side] = rows
        self.stacked = {key: value for key, value in self.stacked.items() if key[0] != side}

    def _half_sweep(self, side: str) -> None:
        """Hook: solve the ``side`` blocks with the other side's rows held constant."""
        raise NotImplementedError

    def iterate(self, iteration: int) -> list:
        """Run iteration ``iteration``; the names of the arrays that are not finite after it."""
        def step():
            self._half_sweep("user")
            self._half_sweep("item")
            worker = self.holders["user"][0]
            flags = self.client.gather([self.client.submit(finite_parts, self._whole(side, worker),
                                                           pure=False)
                                        for side in SIDES])
            return [f"{side}_{part}" for side, finite in zip(SIDES, flags)
                    for part, ok in zip(self.parts, finite) if not ok]
        return self._run(iteration, step, f"iteration {iteration}")

    def gather(self, done: int) -> tuple:
        """``(user rows, item rows)`` after ``done`` iterations, on the client (then the copy
        that a lost worker's rows are run again from)."""
        def step():
            return tuple(stack_rows(self.client.gather(self.rows[side])) for side in SIDES)
        rows = self._run(done, step, "gathering the factors")
        self.copy = (done, *rows)
        return rows

    # ---------------------------------------------------------------- what a subclass gives
    def failed(self, error: NumericalError, iteration: int) -> NumericalError:
        """Hook: the error to raise for a solver failure in ``iteration``."""
        raise NotImplementedError

    def wants_loss(self) -> bool:
        """Hook: whether the loss is computed after every iteration."""
        raise NotImplementedError

    def loss(self, done: int) -> float:
        """Hook: the objective after ``done`` iterations, as the single-machine fit sums it."""
        raise NotImplementedError

    def fitted(self, model, state, iterations: int):
        """``model`` holding the fit state, as the fit template leaves a fitted model (the rows
        named as the model's state names them: ``user_factors``, ``user_bias``, ...)."""
        for side in SIDES:
            for part, array in zip(self.parts, getattr(state, f"{side}_rows")):
                setattr(state, f"{side}_{part}", array)
        for name, value in model._finish(state, iterations).items():
            setattr(model, name, value)
        model.user_ids, model.item_ids = self.layout.user_ids, self.layout.item_ids
        model._params = self.params
        return model


def checked_arguments(model, client, n_blocks, checkpoint_every, callback, show_progress):
    """The checked arguments every fit by blocks takes: ``(model params, client, n_blocks,
    checkpoint_every, show_progress)`` (``ValueError`` / ``TypeError`` naming the one at
    fault)."""
    params = model._validate_params()
    check_callback(callback)
    show_progress = check_bool(show_progress, "show_progress")
    checkpoint_every = check_int(checkpoint_every, "checkpoint_every", 1)
    if n_blocks is not None:
        n_blocks = check_int(n_blocks, "n_blocks", 1)
    return params, resolve_client(client), n_blocks, checkpoint_every, show_progress


def run_fit(model, sweeps: BlockSweeps, state, first: int, *, label: str, callback,
            show_progress: bool, checkpoint_dir, checkpoint_every: int):
    """Iterations ``first`` to the model's last of a fit by blocks: the progress bar, the
    checks after every iteration, the loss, checkpoints and the callback as the single-machine
    fit runs them; returns the fitted ``model``. ``state`` holds ``user_rows`` / ``item_rows``
    (tuples of ``sweeps.parts``), ``loss_history`` and ``largest``."""
    params = sweeps.params
    total = params["iterations"]
    sweeps.start(state.user_rows, state.item_rows, first)
    bar = progress_bar(total - first, label, show_progress)
    try:
        for iteration in range(first, total):
            start = time.perf_counter()
            try:
                bad = sweeps.iterate(iteration)
            except NumericalError as error:
                raise sweeps.failed(error, iteration) from None
            elapsed = time.perf_counter() - start
            if bad:
                raise model._not_finite(f"{' and '.join(bad)} are",
                                        f"after iteration {iteration}", params, state.largest)
            loss = None
            if sweeps.wants_loss():
                loss = sweeps.loss(iteration + 1)
                if not np.isfinite(loss):
                    raise model._not_finite("the loss is", f"after iteration {iteration}",
                                            params, state.largest)
                state.loss_history.append(loss)
            if checkpoint_dir is not None and \
                    ((iteration + 1) % checkpoint_every == 0 or iteration + 1 == total):
                state.user_rows, state.item_rows = sweeps.gather(iteration + 1)
                save_checkpoint(sweeps.fitted(model, state, iteration + 1), checkpoint_dir,
                                iteration + 1)
            bar.update(**({} if loss is None else {"loss": loss}))
            done = iteration + 1
            if notify(callback, iteration, elapsed, loss,
                      functools.partial(_snapshot, model, sweeps, state, done)):
                bar.stop_early()
                total = done
                break
    finally:
        bar.close()
    state.user_rows, state.item_rows = sweeps.gather(total)
    return sweeps.fitted(model, state, total)


def _snapshot(model, sweeps: BlockSweeps, state, done: int):
    """A fitted copy of ``model`` after ``done`` iterations (the rows gathered), for callbacks."""
    gathered = copy.copy(state)
    gathered.loss_history = list(state.loss_history)
    gathered.user_rows, gathered.item_rows = sweeps.gather(done)
    return sweeps.fitted(copy.copy(model), gathered, done)


# ---------------------------------------------------------------------- tasks (on the workers)
def stack_rows(blocks: list) -> tuple:
    """The rows of consecutive blocks (tuples of arrays) as one tuple of arrays."""
    return tuple(np.concatenate(parts) for parts in zip(*blocks))


def finite_parts(rows: tuple) -> list:
    return [all_finite(array) for array in rows]
