"""Exceptions raised by mfkit."""
from ._core import NumericalError

__all__ = ["NotFittedError", "NumericalError"]

NumericalError.__doc__ = (
    "A numerical failure, e.g. a row system that is not positive definite "
    "(raise `regularization` above 0). Subclass of ArithmeticError."
)


class NotFittedError(ValueError, AttributeError):
    """The model was used before ``fit`` was called."""
