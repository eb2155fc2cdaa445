"""Common base of every mfkit model: scikit-learn style parameters and fitted-state checks.

Serving (recommend, similar items/users, explain, save/load) is added here so every model
inherits it.
"""
from __future__ import annotations

import inspect

from .exceptions import NotFittedError


def get_backend(name: str):
    """The module implementing the kernels for ``backend=name``."""
    if name == "cpp":
        from . import _cpp

        return _cpp
    from . import reference

    return reference


class Recommender:
    """Base class. ``__init__`` of a subclass only stores its arguments; ``fit`` validates them."""

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p for p in signature.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments, as scikit-learn expects (so ``sklearn.base.clone`` works)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor arguments; unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_fitted(self):
        if getattr(self, "user_factors", None) is None or getattr(self, "item_factors", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")
