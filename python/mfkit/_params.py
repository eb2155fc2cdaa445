"""Declarative parameter constraints, checked once per ``fit`` (scikit-learn's
``_parameter_constraints`` idea).

A model lists ``_parameter_constraints = {"factors": Integer(1), "solver": Options("cg",
"cholesky"), ...}``; :func:`validate_params` checks every constructor argument against its entry
and returns the cleaned values (``int``, ``float``, ``np.dtype``, ...). Errors name the argument.
"""
from __future__ import annotations

from ._validation import (
    C_INT_MAX,
    check_bool,
    check_choice,
    check_dtype,
    check_float,
    check_int,
    check_random_state,
)


class Integer:
    """A whole number in ``[low, high]``."""

    def __init__(self, low=None, high=C_INT_MAX):
        self.low, self.high = low, high

    def check(self, value, name):
        return check_int(value, name, self.low, self.high)


class Real:
    """A finite real number ``>= low`` (``> low`` with ``strict=True``) and ``<= high``."""

    def __init__(self, low=None, high=None, strict=False):
        self.low, self.high, self.strict = low, high, strict

    def check(self, value, name):
        value = check_float(value, name, None if self.strict else self.low)
        if self.strict and not value > self.low:
            raise ValueError(f"{name} must be > {self.low:g}, got {value}")
        if self.high is not None and value > self.high:
            raise ValueError(f"{name} must be in [{self.low:g}, {self.high:g}], got {value}")
        return value


class Options:
    """One of the listed values."""

    def __init__(self, *choices):
        self.choices = choices

    def check(self, value, name):
        return check_choice(value, name, self.choices)


class Boolean:
    def check(self, value, name):
        return check_bool(value, name)


class DType:
    """np.float32 or np.float64 (returned as a ``np.dtype``)."""

    def check(self, value, name):
        return check_dtype(value)


class RandomState:
    """None, an int seed, a SeedSequence or a Generator (returned unchanged: ``fit`` turns it into
    a fresh Generator every time, so refits give the same result)."""

    def check(self, value, name):
        check_random_state(value)
        return value


class RealOr:
    """A string among ``options`` (e.g. ``"same"``) or a :class:`Real`."""

    def __init__(self, options: tuple, real: Real):
        self.options, self.real = options, real

    def check(self, value, name):
        if isinstance(value, str):
            return check_choice(value, name, self.options)
        return self.real.check(value, name)


# Shared by every model.
THREADS = Integer(0)
BACKEND = Options("cpp", "reference")


def validate_params(constraints: dict, values: dict) -> dict:
    """``{name: cleaned value}`` for every entry of ``constraints``, in its order."""
    return {name: constraint.check(values[name], name) for name, constraint in constraints.items()}

