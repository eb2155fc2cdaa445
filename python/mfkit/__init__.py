"""mfkit: matrix-factorization recommenders with a C++ core.

>>> import mfkit
>>> model = mfkit.ALS(factors=32, random_state=0).fit(user_items)   # doctest: +SKIP
"""
from . import datasets, evaluation, tuning
from ._config import show_config
from ._persistence import load_model as load
from ._settings import config_context, get_config, set_config
from ._version import __version__
from .exceptions import NotFittedError, NumericalError
from .models import ALS, BPR, NMF, SVD, ExplicitMF
from .models.nmf import ConvergenceWarning

__all__ = ["ALS", "BPR", "ConvergenceWarning", "ExplicitMF", "NMF", "NotFittedError",
           "NumericalError", "SVD", "__version__", "config_context", "datasets", "evaluation",
           "get_config", "load", "set_config", "show_config", "tuning"]

