"""One estimator per module, all on :class:`mfkit._base.Recommender`."""
from .als import ALS

__all__ = ["ALS"]
from .explicit import ExplicitMF  # noqa: E402
__all__ += ["ExplicitMF"]
from .bpr import BPR  # noqa: E402

__all__ += ["BPR"]
