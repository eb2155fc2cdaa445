"""mfkit: matrix-factorization recommenders with a C++ core.

>>> import mfkit
>>> model = mfkit.ALS(factors=32, random_state=0).fit(user_items)   # doctest: +SKIP
"""
from . import datasets, evaluation
from ._version import __version__
from .exceptions import NotFittedError, NumericalError
from .models import ALS
from .models import NMF
from .models.nmf import ConvergenceWarning
from .models import BPR

__all__ = ["ALS", "NotFittedError", "NumericalError", "__version__", "datasets", "evaluation", "load"]
__all__ += ["BPR"]
from .models import ExplicitMF  # noqa: E402
__all__ += ["ExplicitMF"]
__all__ += ["NMF", "ConvergenceWarning"]


def load(path):
    """Read a model written by ``model.save(path)``. Never unpickles: a model file cannot run code."""
    from ._persistence import load_model

    return load_model(path)
