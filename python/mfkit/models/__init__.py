"""One estimator per module, all on :class:`mfkit._base.Recommender`."""
from .als import ALS
from .bpr import BPR
from .explicit import ExplicitMF
from .nmf import NMF
from .svd import SVD

__all__ = ["ALS", "BPR", "ExplicitMF", "NMF", "SVD"]
