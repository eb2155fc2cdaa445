"""Pure-numpy twins of the C++ kernels: same maths and same signatures, readable and slow.

``backend="reference"`` on any model runs these instead of ``mfkit._core``; the tests check that
both backends agree numerically.
"""
from .als import als_half_sweep, als_loss, als_solve_rows, gram
from .metrics import ranking_metrics_block
from .nmf import (csr_matmul, csr_transpose_matmul, nmf_cd_update, nmf_gram, nmf_loss,
                  nmf_mu_update, nmf_solve)
from .topk import top_k

__all__ = ["als_half_sweep", "als_loss", "als_solve_rows", "gram", "ranking_metrics_block",
           "top_k"]
from .explicit import (explicit_als_solve_rows, explicit_loss, explicit_sgd_epoch,  # noqa: E402
                       explicit_shuffle)
__all__ += ["explicit_als_solve_rows", "explicit_loss", "explicit_sgd_epoch", "explicit_shuffle"]
__all__ += ["csr_matmul", "csr_transpose_matmul", "nmf_cd_update", "nmf_gram", "nmf_loss",
            "nmf_mu_update", "nmf_solve"]
from .bpr import bpr_epoch, bpr_fold_in, bpr_index, bpr_sample, bpr_update  # noqa: E402

__all__ += ["bpr_epoch", "bpr_fold_in", "bpr_index", "bpr_sample", "bpr_update"]
