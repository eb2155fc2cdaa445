"""Pure-numpy twins of the C++ kernels: same maths and same signatures, readable and slow.

``backend="reference"`` on any model runs these instead of ``mfkit._core``; the tests check that
both backends agree numerically.
"""
from .als import als_half_sweep, als_loss, als_solve_rows, gram
from .bpr import bpr_epoch, bpr_fold_in, bpr_index, bpr_sample, bpr_update
from .explicit import explicit_als_solve_rows, explicit_loss, explicit_sgd_epoch, explicit_shuffle
from .metrics import ranking_metrics_block
from .nmf import (
                  csr_matmul,
                  csr_transpose_matmul,
                  nmf_cd_update,
                  nmf_gram,
                  nmf_loss,
                  nmf_mu_update,
                  nmf_solve,
)
from .topk import rank_candidates, rank_rows, top_k

__all__ = [
    "rank_candidates", "rank_rows",
    "als_half_sweep", "als_loss", "als_solve_rows", "gram",
    "bpr_epoch", "bpr_fold_in", "bpr_index", "bpr_sample", "bpr_update",
    "explicit_als_solve_rows", "explicit_loss", "explicit_sgd_epoch", "explicit_shuffle",
    "ranking_metrics_block",
    "csr_matmul", "csr_transpose_matmul", "nmf_cd_update", "nmf_gram", "nmf_loss",
    "nmf_mu_update", "nmf_solve",
    "top_k",
]
