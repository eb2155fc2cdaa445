"""Type stubs for mfkit._core, the compiled kernels (written by tests/test_stubs.py)."""
from typing import Any, Protocol

from numpy.typing import NDArray

has_openmp: bool
openmp_version: int
compiler: str
native_build: bool
levels: list[tuple[str, bool]]

class NumericalError(ArithmeticError): ...

class Kernels(Protocol):
    """The functions of one SIMD-level submodule (all levels are identical)."""

    def als_half_sweep_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, solver: str, cg_steps: int, block_size: int, block_sweeps: int, num_threads: int) -> None:
        """Solve every row of `solved` with `fixed` held constant (one ALS half-sweep), in place."""
    def als_half_sweep_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, solver: str, cg_steps: int, block_size: int, block_sweeps: int, num_threads: int) -> None:
        """Solve every row of `solved` with `fixed` held constant (one ALS half-sweep), in place."""
    def als_loss_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, num_threads: int) -> float:
        """Full implicit-ALS objective."""
    def als_loss_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, num_threads: int) -> float:
        """Full implicit-ALS objective."""
    def als_solve_rows_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], gram: NDArray[Any], solved: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, solver: str, cg_steps: int, block_size: int, block_sweeps: int, num_threads: int) -> None:
        """Solve the rows of `solved` in place given `fixed` and its cached gram matrix."""
    def als_solve_rows_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], gram: NDArray[Any], solved: NDArray[Any], regularization: float, regularization_exponent: float, regularization_scheme: str, alpha: float, solver: str, cg_steps: int, block_size: int, block_sweeps: int, num_threads: int) -> None:
        """Solve the rows of `solved` in place given `fixed` and its cached gram matrix."""
    def bpr_epoch_f32(self, indptr: NDArray[Any], indices: NDArray[Any], entry_rows: NDArray[Any], filter: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], learning_rate: float, regularization: float, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> dict[str, Any]:
        """One BPR epoch (nnz sampled triples, an SGD step each), in place; returns counters."""
    def bpr_epoch_f64(self, indptr: NDArray[Any], indices: NDArray[Any], entry_rows: NDArray[Any], filter: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], learning_rate: float, regularization: float, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> dict[str, Any]:
        """One BPR epoch (nnz sampled triples, an SGD step each), in place; returns counters."""
    def bpr_fold_in_f32(self, indptr: NDArray[Any], indices: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], cumulative_counts: NDArray[Any], solved: NDArray[Any], epochs: int, learning_rate: float, regularization: float, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> dict[str, Any]:
        """User factors from their positives with the items fixed (BPR fold-in), in place."""
    def bpr_fold_in_f64(self, indptr: NDArray[Any], indices: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], cumulative_counts: NDArray[Any], solved: NDArray[Any], epochs: int, learning_rate: float, regularization: float, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> dict[str, Any]:
        """User factors from their positives with the items fixed (BPR fold-in), in place."""
    def bpr_membership_filter_f32(self, indptr: NDArray[Any], indices: NDArray[Any], n_items: int) -> NDArray[Any]:
        """The membership filter of the positives' (user, item) pairs that bpr_epoch and bpr_sample use to skip most exact row searches (results do not depend on it)."""
    def bpr_membership_filter_f64(self, indptr: NDArray[Any], indices: NDArray[Any], n_items: int) -> NDArray[Any]:
        """The membership filter of the positives' (user, item) pairs that bpr_epoch and bpr_sample use to skip most exact row searches (results do not depend on it)."""
    def bpr_sample_f32(self, indptr: NDArray[Any], indices: NDArray[Any], entry_rows: NDArray[Any], filter: NDArray[Any], n_items: int, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> NDArray[Any]:
        """The (user, positive, negative) triples bpr_epoch draws with these arguments."""
    def bpr_sample_f64(self, indptr: NDArray[Any], indices: NDArray[Any], entry_rows: NDArray[Any], filter: NDArray[Any], n_items: int, negative_sampling: str, verify_negative_samples: bool, seed: int, num_threads: int) -> NDArray[Any]:
        """The (user, positive, negative) triples bpr_epoch draws with these arguments."""
    def bpr_update_f32(self, user_factors: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], users: NDArray[Any], positives: NDArray[Any], negatives: NDArray[Any], learning_rate: float, regularization: float, num_threads: int) -> dict[str, Any]:
        """BPR SGD steps over given triples, in place; returns counters."""
    def bpr_update_f64(self, user_factors: NDArray[Any], item_factors: NDArray[Any], item_bias: NDArray[Any], users: NDArray[Any], positives: NDArray[Any], negatives: NDArray[Any], learning_rate: float, regularization: float, num_threads: int) -> dict[str, Any]:
        """BPR SGD steps over given triples, in place; returns counters."""
    def csr_matmul_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], dense: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Sparse (CSR) times dense product."""
    def csr_matmul_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], dense: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Sparse (CSR) times dense product."""
    def csr_transpose_matmul_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], column_ptr: NDArray[Any], dense: NDArray[Any], out: Any, num_threads: int) -> NDArray[Any]:
        """Transposed sparse (CSR) times dense product, by scattering rows; into `out` if given."""
    def csr_transpose_matmul_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], column_ptr: NDArray[Any], dense: NDArray[Any], out: Any, num_threads: int) -> NDArray[Any]:
        """Transposed sparse (CSR) times dense product, by scattering rows; into `out` if given."""
    def explicit_als_solve_rows_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], fixed_bias: NDArray[Any], solved: NDArray[Any], solved_bias: NDArray[Any], global_mean: float, regularization: float, biased: bool, num_threads: int) -> None:
        """ALS-WR: solve every row of `solved` (and its bias) exactly with `fixed` held constant."""
    def explicit_als_solve_rows_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], fixed_bias: NDArray[Any], solved: NDArray[Any], solved_bias: NDArray[Any], global_mean: float, regularization: float, biased: bool, num_threads: int) -> None:
        """ALS-WR: solve every row of `solved` (and its bias) exactly with `fixed` held constant."""
    def explicit_loss_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], user_bias: NDArray[Any], item_bias: NDArray[Any], global_mean: float, regularization: float, biased: bool, num_threads: int) -> float:
        """Regularized squared error over the observed ratings."""
    def explicit_loss_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], user_bias: NDArray[Any], item_bias: NDArray[Any], global_mean: float, regularization: float, biased: bool, num_threads: int) -> float:
        """Regularized squared error over the observed ratings."""
    def explicit_sgd_epoch_f32(self, users: NDArray[Any], items: NDArray[Any], ratings: NDArray[Any], block_ptr: NDArray[Any], user_block: NDArray[Any], item_block: NDArray[Any], strata: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], user_bias: NDArray[Any], item_bias: NDArray[Any], global_mean: float, learning_rate: float, regularization: float, biased: bool, num_threads: int) -> None:
        """One stratified SGD epoch over the rating blocks; factors and biases updated in place."""
    def explicit_sgd_epoch_f64(self, users: NDArray[Any], items: NDArray[Any], ratings: NDArray[Any], block_ptr: NDArray[Any], user_block: NDArray[Any], item_block: NDArray[Any], strata: NDArray[Any], user_factors: NDArray[Any], item_factors: NDArray[Any], user_bias: NDArray[Any], item_bias: NDArray[Any], global_mean: float, learning_rate: float, regularization: float, biased: bool, num_threads: int) -> None:
        """One stratified SGD epoch over the rating blocks; factors and biases updated in place."""
    def explicit_shuffle_f32(self, users: NDArray[Any], items: NDArray[Any], ratings: NDArray[Any], block_ptr: NDArray[Any], user_block: NDArray[Any], item_block: NDArray[Any], seed: int, num_threads: int) -> None:
        """Shuffle the entries of every block in place (Fisher-Yates, one seeded stream per block)."""
    def explicit_shuffle_f64(self, users: NDArray[Any], items: NDArray[Any], ratings: NDArray[Any], block_ptr: NDArray[Any], user_block: NDArray[Any], item_block: NDArray[Any], seed: int, num_threads: int) -> None:
        """Shuffle the entries of every block in place (Fisher-Yates, one seeded stream per block)."""
    def gram_f32(self, factors: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """YᵀY of a factor matrix."""
    def gram_f64(self, factors: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """YᵀY of a factor matrix."""
    def nmf_cd_update_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], products: NDArray[Any], fixed_gram: NDArray[Any], solved_gram: Any, l1: float, l2: float, ignore_missing: bool, num_threads: int) -> float:
        """One coordinate-descent sweep over the rows of `solved` (in place); returns the violation."""
    def nmf_cd_update_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], products: NDArray[Any], fixed_gram: NDArray[Any], solved_gram: Any, l1: float, l2: float, ignore_missing: bool, num_threads: int) -> float:
        """One coordinate-descent sweep over the rows of `solved` (in place); returns the violation."""
    def nmf_gram_f32(self, factors: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """FᵀF of a factor matrix (subnormals flushed)."""
    def nmf_gram_f64(self, factors: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """FᵀF of a factor matrix (subnormals flushed)."""
    def nmf_loss_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], W: NDArray[Any], fixed: NDArray[Any], beta_loss: str, ignore_missing: bool, num_threads: int) -> float:
        """The NMF data term D(X, W fixedᵀ) (no penalties)."""
    def nmf_loss_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], W: NDArray[Any], fixed: NDArray[Any], beta_loss: str, ignore_missing: bool, num_threads: int) -> float:
        """The NMF data term D(X, W fixedᵀ) (no penalties)."""
    def nmf_mu_update_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], products: NDArray[Any], fixed_gram: NDArray[Any], solved_gram: Any, beta_loss: str, l1: float, l2: float, ignore_missing: bool, flush_below: float, num_threads: int) -> None:
        """One multiplicative update of the rows of `solved` (in place)."""
    def nmf_mu_update_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], solved: NDArray[Any], products: NDArray[Any], fixed_gram: NDArray[Any], solved_gram: Any, beta_loss: str, l1: float, l2: float, ignore_missing: bool, flush_below: float, num_threads: int) -> None:
        """One multiplicative update of the rows of `solved` (in place)."""
    def nmf_solve_f32(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], fixed_gram: NDArray[Any], solved: NDArray[Any], solver: str, beta_loss: str, l1: float, l2: float, ignore_missing: bool, max_iter: int, tol: float, num_threads: int) -> int:
        """Solve the rows of `solved` in place with `fixed` constant; returns the sweeps done."""
    def nmf_solve_f64(self, indptr: NDArray[Any], indices: NDArray[Any], data: NDArray[Any], fixed: NDArray[Any], fixed_gram: NDArray[Any], solved: NDArray[Any], solver: str, beta_loss: str, l1: float, l2: float, ignore_missing: bool, max_iter: int, tol: float, num_threads: int) -> int:
        """Solve the rows of `solved` in place with `fixed` constant; returns the sweeps done."""
    def rank_candidates_f32(self, queries: NDArray[Any], targets: NDArray[Any], candidates: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], excluded_all: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """rank_rows over the listed candidate targets only (strictly increasing ids; targets given as rows); exclusions name target ids."""
    def rank_candidates_f64(self, queries: NDArray[Any], targets: NDArray[Any], candidates: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], excluded_all: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """rank_rows over the listed candidate targets only (strictly increasing ids; targets given as rows); exclusions name target ids."""
    def rank_rows_f32(self, queries: NDArray[Any], targets_t: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], excluded_all: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Best k targets of every query by dot product (targets given transposed), scores and selection fused per block of queries; per-query and global exclusions."""
    def rank_rows_f64(self, queries: NDArray[Any], targets_t: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], excluded_all: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Best k targets of every query by dot product (targets given transposed), scores and selection fused per block of queries; per-query and global exclusions."""
    def ranking_metrics_f32(self, scores: NDArray[Any], train_indptr: NDArray[Any], train_indices: NDArray[Any], test_indptr: NDArray[Any], test_indices: NDArray[Any], k: int, num_threads: int) -> NDArray[Any]:
        """Per-user precision, recall, AP, nDCG, hit rate, reciprocal rank (at k) and AUC (rows x 7, NaN rows for users without relevant test items)."""
    def ranking_metrics_f64(self, scores: NDArray[Any], train_indptr: NDArray[Any], train_indices: NDArray[Any], test_indptr: NDArray[Any], test_indices: NDArray[Any], k: int, num_threads: int) -> NDArray[Any]:
        """Per-user precision, recall, AP, nDCG, hit rate, reciprocal rank (at k) and AUC (rows x 7, NaN rows for users without relevant test items)."""
    def top_k_f32(self, scores: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Best k column ids and scores of every row (-inf/NaN never selected; pad -1/-inf). Row r's columns exclude_indices[exclude_indptr[r]:exclude_indptr[r+1]] are first set to -inf in scores (in place); empty exclude_indptr excludes nothing."""
    def top_k_f64(self, scores: NDArray[Any], k: int, exclude_indptr: NDArray[Any], exclude_indices: NDArray[Any], num_threads: int) -> NDArray[Any]:
        """Best k column ids and scores of every row (-inf/NaN never selected; pad -1/-inf). Row r's columns exclude_indices[exclude_indptr[r]:exclude_indptr[r+1]] are first set to -inf in scores (in place); empty exclude_indptr excludes nothing."""

baseline: Kernels
avx2: Kernels
avx512: Kernels
