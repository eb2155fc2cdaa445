"""One estimator per module, all on :class:`mfkit._base.Recommender`."""
from .als import ALS

__all__ = ["ALS"]
