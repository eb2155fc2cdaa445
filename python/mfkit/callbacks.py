"""Ready-made fit callbacks: early stopping on a validation metric, a CSV log, a live plot.

Pass one (or several, in a :class:`CallbackList`) as ``callback=`` to any model's ``fit`` or to
``mfkit.distributed.fit_als``. They implement ``on_iteration(progress)``: ``progress`` is a
:class:`FitProgress` with the iteration, its seconds, the fit's value (the loss when computed)
and ``model``, the model as fitted so far; returning True stops the fit after that iteration.

    from mfkit.callbacks import CSVLogger, CallbackList, EarlyStopping

    stopper = EarlyStopping(train, valid, metric="ndcg@20", every=2, patience=2)
    model = mfkit.ALS(iterations=50).fit(train, callback=CallbackList(stopper,
                                                                      CSVLogger("fit.csv")))
    best = stopper.best_model  # the model at the best validation score
"""
from __future__ import annotations

import copy
import csv
import math
import os

import numpy as np

from ._fit_events import FitProgress, check_callback
from ._validation import check_int
from .evaluation import parse_metric, ranking_metrics

__all__ = ["CSVLogger", "CallbackList", "EarlyStopping", "FitProgress", "LivePlot"]


class CallbackList:
    """Several callbacks as one: each sees every iteration; the fit stops when any asks to."""

    def __init__(self, *callbacks):
        for callback in callbacks:
            check_callback(callback, "each callback")
        self.callbacks = [c for c in callbacks if c is not None]

    def on_iteration(self, progress: FitProgress) -> bool:
        stop = False
        for callback in self.callbacks:
            if hasattr(callback, "on_iteration"):
                stop = bool(callback.on_iteration(progress)) or stop
            else:
                callback(progress.iteration, progress.elapsed, progress.value)
        return stop


class EarlyStopping:
    """Score the model on held-out interactions every ``every`` iterations; stop the fit when
    the score has not improved by more than ``min_delta`` for ``patience`` evaluations.

    Parameters
    ----------
    train, valid : sparse matrix or Interactions, users × items
        What the model is fitted on (excluded from the ranking) and the held-out interactions
        (the relevant items), as for :func:`mfkit.evaluation.ranking_metrics`. Build ``valid``
        from the training data (e.g. ``mfkit.evaluation.leave_k_out_split``), never from the
        test set.
    metric : str, default "ndcg@10"
        ``name@K`` with ``name`` one of ndcg, recall, precision, map, hit_rate, mrr (higher is
        better).
    every : int, default 1
        Evaluate after iterations ``every - 1``, ``2·every - 1``, ... (0-based).
    patience : int, default 3
        Evaluations without improvement before stopping.
    min_delta : float, default 0
        The least gain that counts as an improvement.

    Attributes
    ----------
    history : list of (iteration, score)
    best_score, best_iteration
        The best score so far and the 0-based iteration after which it was measured.
    best_model
        A copy of the model at its best score (its arrays copied); None before any evaluation.
    stopped_iteration : int or None
        The iteration after which it stopped the fit (None: it did not).
    """

    def __init__(self, train, valid, metric: str = "ndcg@10", every: int = 1, patience: int = 3,
                 min_delta: float = 0.0):
        self.metric, self.K = parse_metric(metric)
        self.train, self.valid = train, valid
        self.every = check_int(every, "every", 1)
        self.patience = check_int(patience, "patience", 1)
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta)
                and min_delta >= 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
        self.history, self.best_score, self.best_iteration = [], -math.inf, None
        self.best_model, self.stopped_iteration, self._waited = None, None, 0

    def on_iteration(self, progress: FitProgress) -> bool:
        if (progress.iteration + 1) % self.every:
            return False
        score = ranking_metrics(progress.model, self.train, self.valid, K=self.K)[self.metric]
        self.history.append((progress.iteration, score))
        if score > self.best_score + self.min_delta or self.best_model is None:
            self.best_score, self.best_iteration = score, progress.iteration
            self.best_model = _copied(progress.model)
            self._waited = 0
            return False
        self._waited += 1
        if self._waited >= self.patience:
            self.stopped_iteration = progress.iteration
            return True
        return False


def _copied(model):
    """``model`` with its array attributes copied (a snapshot's arrays are the fit's own)."""
    model = copy.copy(model)
    for name, value in vars(model).items():
        if isinstance(value, np.ndarray):
            setattr(model, name, value.copy())
        elif isinstance(value, list):
            setattr(model, name, list(value))
    return model


class CSVLogger:
    """Append one row per iteration to a CSV file: ``iteration, elapsed_seconds`` and the
    fit's value (``value``; a dict value, e.g. BPR's, one column per key).

    The file is written as the fit runs (a row per iteration, flushed), so a long fit can be
    watched with ``tail -f``; ``append=False`` (default) starts a new file at the first row.
    """

    def __init__(self, path, append: bool = False):
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {type(path).__name__}")
        self.path, self.append, self._columns = os.fspath(path), bool(append), None

    def on_iteration(self, progress: FitProgress) -> bool:
        values = progress.value if isinstance(progress.value, dict) else {"value": progress.value}
        row = {"iteration": progress.iteration, "elapsed_seconds": progress.elapsed, **values}
        start = self._columns is None
        if start:
            self._columns = list(row)
        mode = "a" if self.append or not start else "w"
        with open(self.path, mode, newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, fieldnames=self._columns, extrasaction="ignore")
            if start and (mode == "w" or file.tell() == 0):
                writer.writeheader()
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return False


class LivePlot:
    """Plot the fit's value (and an :class:`EarlyStopping`'s scores) against the iteration
    while the fit runs: redrawn in place in a Jupyter notebook, in a window elsewhere.
    Needs matplotlib.

    Parameters
    ----------
    every : int, default 1
        Redraw every ``every`` iterations (and after the last one seen).
    validation : EarlyStopping, optional
        Its scores are drawn on a second axis.
    figure : matplotlib Figure, optional
        Draw there (default: a new figure).

    Attributes
    ----------
    figure : the matplotlib Figure (after the first iteration)
    values : list of (iteration, value)
    """

    def __init__(self, every: int = 1, validation: EarlyStopping | None = None, figure=None):
        self.every = check_int(every, "every", 1)
        if validation is not None and not isinstance(validation, EarlyStopping):
            raise TypeError("validation must be an EarlyStopping (or None)")
        self.validation, self.figure, self.values = validation, figure, []
        self._axes = None

    def on_iteration(self, progress: FitProgress) -> bool:
        if isinstance(progress.value, (int, float, np.floating)):
            self.values.append((progress.iteration, float(progress.value)))
        if (progress.iteration + 1) % self.every == 0:
            self.draw()
        return False

    def draw(self) -> None:
        """Redraw the figure from the values seen so far."""
        import matplotlib.pyplot as plt

        if self.figure is None:
            self.figure = plt.figure(figsize=(6, 3.5))
        if self._axes is None:
            self._axes = self.figure.add_subplot(1, 1, 1)
        axes = self._axes
        axes.clear()
        axes.set_xlabel("iteration")
        axes.set_ylabel("loss (fit value)")
        if self.values:
            axes.plot(*zip(*self.values), marker=".", color="tab:blue", label="loss")
        if self.validation is not None and self.validation.history:
            twin = getattr(self, "_twin", None) or axes.twinx()
            self._twin = twin
            twin.clear()
            twin.plot(*zip(*self.validation.history), marker="o", color="tab:orange",
                      label=f"{self.validation.metric}@{self.validation.K} (validation)")
            twin.set_ylabel(f"{self.validation.metric}@{self.validation.K}")
            twin.legend(loc="lower right")
        axes.legend(loc="upper right")
        self.figure.tight_layout()
        _show(self.figure)


def _show(figure) -> None:
    """Show ``figure`` in place: in IPython the output cell is redrawn, elsewhere the window."""
    try:
        from IPython import get_ipython
        from IPython.display import clear_output, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        clear_output(wait=True)
        display(figure)
        return
    figure.canvas.draw_idle()
