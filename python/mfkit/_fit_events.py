"""What a fit tells its callback after every iteration, and how a callback stops the fit.

A callback is either a plain function ``callback(iteration, elapsed_seconds, value)`` (its
return value is ignored), or an object with an ``on_iteration(progress)`` method, which receives
a :class:`FitProgress` — including the model as fitted so far — and stops the fit early by
returning True (the ready-made ones are in :mod:`mfkit.callbacks`).
"""
from __future__ import annotations

from typing import Any, Callable


class FitProgress:
    """One iteration of a fit, as an ``on_iteration`` callback sees it.

    Attributes
    ----------
    iteration : int
        0-based.
    elapsed : float
        Seconds the iteration's work took.
    value : object
        The fit's measure after it: the loss (or None when not computed), NMF's stopping measure.
    """

    def __init__(self, iteration: int, elapsed: float, value: Any,
                 snapshot: Callable[[], Any]):
        self.iteration, self.elapsed, self.value = iteration, elapsed, value
        self._snapshot, self._model = snapshot, None

    @property
    def model(self):
        """The model as fitted after this iteration: a fitted copy that serves ``recommend`` and
        ``mfkit.evaluation`` (built on first access). Its factors may be the fit's own arrays,
        which the next iteration overwrites: copy what you keep beyond the call."""
        if self._model is None:
            self._model = self._snapshot()
        return self._model


def check_callback(callback, name: str = "callback"):
    """``callback`` if it is None, callable or has an ``on_iteration`` method."""
    if callback is not None and not callable(callback) and \
            not callable(getattr(callback, "on_iteration", None)):
        raise TypeError(f"{name} must be callable(iteration, elapsed, value), an object with "
                        f"an on_iteration(progress) method (see mfkit.callbacks) or None; got "
                        f"{type(callback).__name__}")
    return callback


def notify(callback, iteration: int, elapsed: float, value: Any,
           snapshot: Callable[[], Any]) -> bool:
    """Tell ``callback`` about an iteration; True when it asks the fit to stop."""
    if callback is None:
        return False
    on_iteration = getattr(callback, "on_iteration", None)
    if on_iteration is None:
        callback(iteration, elapsed, value)
        return False
    return bool(on_iteration(FitProgress(iteration, elapsed, value, snapshot)))
