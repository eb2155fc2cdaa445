"""One estimator per module, all on :class:`mfkit._base.Recommender`."""
from .als import ALS
from .nmf import NMF

__all__ = ["ALS"]
from .explicit import ExplicitMF  # noqa: E402
__all__ += ["ExplicitMF"]
__all__ += ["NMF"]
from .bpr import BPR  # noqa: E402

__all__ += ["BPR"]
