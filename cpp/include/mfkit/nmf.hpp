// Non-negative matrix factorization X ≈ W H with scikit-learn's objective and update rules.
//
// Objective (scikit-learn's NMF; penalties already scaled by the caller):
//   D(X, WH) + l1_W Σ W + ½ l2_W ‖W‖² + l1_H Σ H + ½ l2_H ‖H‖²,   W, H ≥ 0
// with the data term D either ½‖X − WH‖²_F ("frobenius") or the generalized Kullback-Leibler
// divergence Σ x log(x / (WH)) − x + (WH) ("kullback-leibler"). With `ignore_missing` the data
// term runs over the stored entries of X only (unstored cells are unknown, not zero).
//
// Every kernel here updates the rows of one factor matrix, `solved` (R.rows × k), with the other
// one, `fixed` (R.cols × k), held constant: R is X for the W step and Xᵀ for the H step (H is
// kept as its transpose Hᵀ, one row per item). Rows are independent within a step, so they run in
// parallel and each row is computed by one thread in one fixed order: results do not depend on
// the number of threads.
//
// - Coordinate descent (HALS; Cichocki & Phan, IEICE Trans. Fundamentals E92-A(3), 2009), in
//   scikit-learn's order: for each row, components t = 0..k-1 in turn,
//     grad_t = (G w)_t + l2 w_t − (b_t − l1),   G = FᵀF (or Σ_{j stored} f_j f_jᵀ when ignoring
//     missing), b = Σ_j x_j f_j,   w_t ← max(0, w_t − grad_t / (G_tt + l2)),
//   and the step reports Σ |projected gradient| (grad_t, or min(grad_t, 0) where w_t = 0)
//   measured before each coordinate's update, which drives scikit-learn's stopping rule. Rows
//   sharing G run 16 at a time, stored component-major, so that (G w)_t is summed in
//   scikit-learn's order r = 0..k-1 for 16 rows at once in SIMD lanes (no horizontal sums).
// - Multiplicative updates (Lee & Seung, NIPS 2001; with the penalties as in Févotte & Idier,
//   Neural Computation 23(9), 2011), exactly as scikit-learn applies them, including its
//   epsilon handling (ε = float32 machine epsilon whatever the dtype):
//     Frobenius: w ← w ∘ (b / d),  d = G w (+ l1)(+ l2 w),  zeros of d replaced by ε;
//     KL:        w ← w ∘ (Σ_j (x_j / max(w·f_j, ε)) f_j) / d,  d = Σ_j f_j (+ l1)(+ l2 w);
//   after the KL step of H, entries below float64 epsilon are set to 0 (`flush_below`), and
//   after every step entries below the smallest normal number (`subnormal_floor`).
//   Ignoring missing cells restricts G w (Σ_j (w·f_j) f_j) and Σ_j f_j to the stored entries
//   (the weighted updates of Zhang, Wang, Ford & Makedon, SDM 2006).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "mfkit/level.hpp"
#include "mfkit/dense.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/fp_env.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/sparse.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

enum class NmfLoss { Frobenius, KullbackLeibler };
enum class NmfSolver { CoordinateDescent, Multiplicative };

// scikit-learn's EPSILON (np.finfo(np.float32).eps), used for float32 and float64 alike.
constexpr double kNmfEpsilon = 1.1920928955078125e-07;
// Threshold below which H is flushed to 0 after a KL multiplicative step (float64 epsilon).
constexpr double kNmfFlush = 2.220446049250313e-16;

template <class T>
struct NmfOptions {
  NmfLoss loss = NmfLoss::Frobenius;
  bool ignore_missing = false;  // data term over the stored entries only
  T l1 = T(0);                  // scaled L1 penalty of the rows being solved
  T l2 = T(0);                  // scaled L2 penalty of the rows being solved
  int num_threads = 1;
};

namespace nmf_detail {

// The solved-side gram is produced by the blocked sweeps only (Frobenius, missing as zeros).
template <class T>
T* usable_gram(T* solved_gram, const NmfOptions<T>& opt) {
  return opt.loss == NmfLoss::Frobenius && !opt.ignore_missing ? solved_gram : nullptr;
}

template <class T>
void check_arguments(const CsrView<T>& R, const DenseView<const T>& F, int64_t rows, int64_t cols,
                     const NmfOptions<T>& opt) {
  check_solve_shapes(
      R, F, rows, cols,
      {"n_components must be at least 1", "W and H must have the same number of components",
       "X must have one row per factor row being solved",
       "X must have one column per fixed factor row"});
  sparse_detail::check_structure(R);
  require_finite_nonnegative(opt.l1, "l1 penalty");
  require_finite_nonnegative(opt.l2, "l2 penalty");
}

// Σ over the rows of F, per column, summed row by row in order (deterministic).
template <class T>
std::vector<T> column_sums(const DenseView<const T>& F) {
  const int k = static_cast<int>(F.cols);
  std::vector<T> sums(k, T(0));
  for (int64_t i = 0; i < F.rows; ++i) axpy(T(1), F.row(i), sums.data(), k);
  return sums;
}

// What a step needs of the fixed side: FᵀF and its column sums, when the options use them.
template <class T>
struct FixedSide {
  std::vector<T> gram;          // FᵀF (Frobenius, missing cells as zeros)
  std::vector<T> colsum;        // Σ_j f_j (KL, missing cells as zeros)
  const T* products = nullptr;  // R F (R.rows x k) when the caller computed it, else nullptr
};

template <class T>
FixedSide<T> prepare(const DenseView<const T>& F, const T* given_gram, const NmfOptions<T>& opt) {
  FixedSide<T> side;
  if (opt.ignore_missing) return side;
  const size_t k = static_cast<size_t>(F.cols);
  if (opt.loss == NmfLoss::Frobenius) {
    side.gram.resize(k * k);
    if (given_gram)
      std::copy(given_gram, given_gram + k * k, side.gram.begin());
    else
      gram<FlushSubnormals>(F, side.gram.data(), opt.num_threads, kSweepMinFlops);
  } else {
    side.colsum = column_sums(F);
  }
  return side;
}

// One row of coordinate descent on ½wᵀGw − bᵀw with w ≥ 0 (G holds l2 on its diagonal and b
// holds −l1). Returns Σ|projected gradient| before each coordinate's update.
template <class T>
inline double cd_row(const T* G, const T* b, T* w, T* g, int k) {
  symmetric_matvec(G, w, g, k);
  for (int t = 0; t < k; ++t) g[t] -= b[t];
  double violation = 0.0;
  for (int t = 0; t < k; ++t) {
    const T grad = g[t];
    const T current = w[t];
    violation += std::abs(static_cast<double>(current == T(0) ? std::min(grad, T(0)) : grad));
    const T hess = G[static_cast<int64_t>(t) * k + t];
    if (hess != T(0)) {
      const T next = std::max(current - grad / hess, T(0));
      const T delta = next - current;
      if (delta != T(0)) {
        w[t] = next;
        axpy(delta, G + static_cast<int64_t>(t) * k, g, k);
      }
    }
  }
  return violation;
}

// Rows are processed in blocks of kBlock<T>, stored transposed (component-major: entry (r, j)
// of a block at r * kBlock + j), so that every loop over a block's rows is a contiguous,
// vectorizable loop and no dot product needs a horizontal reduction. A block spans 8 vector
// registers of the instruction set compiled for (SSE2: 32 floats or 16 doubles): enough
// independent sums to hide the add latency, few enough to stay in registers. Unused rows of
// the last block are zeros.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;  // SSE2: the x86-64 baseline of portable builds
#endif
template <class T>
constexpr int kBlock = 8 * kVectorBytes / static_cast<int>(sizeof(T));

// Kept out of line: inlined into the coordinate-descent loop, GCC spills an accumulator to the
// stack and the loop then waits on store-to-load forwarding every step.
#if defined(__GNUC__) || defined(__clang__)
#define MFKIT_NMF_NOINLINE __attribute__((noinline))
#else
#define MFKIT_NMF_NOINLINE
#endif

template <class T>
struct Block {
  explicit Block(int k) : w(static_cast<size_t>(k) * kBlock<T>), b(w.size()), d(w.size()), row(k) {}
  std::vector<T> w, b, d;  // factors, Σ x f and a third k x kBlock<T> scratch, all transposed
  std::vector<T> row;      // one factor row
};

// Loads rows first .. first+m-1 of X into blk.w and their Σ_j x_j f_j into blk.b (transposed).
template <class T>
int load_block(const CsrView<T>& R, const DenseView<const T>& F, const T* products,
               const DenseView<T>& X, int64_t first, int m, Block<T>& blk) {
  const int k = static_cast<int>(F.cols);
  int flags = 0;
  std::fill(blk.w.begin(), blk.w.end(), T(0));
  std::fill(blk.b.begin(), blk.b.end(), T(0));
  for (int j = 0; j < m; ++j) {
    const T* x = X.row(first + j);
    for (int r = 0; r < k; ++r) blk.w[static_cast<size_t>(r) * kBlock<T> + j] = x[r];
    const T* b = blk.row.data();
    if (products)
      b = products + (first + j) * k;
    else
      flags |= sparse_detail::sparse_row_product(R, first + j, F, blk.row.data());
    for (int r = 0; r < k; ++r) blk.b[static_cast<size_t>(r) * kBlock<T> + j] = b[r];
  }
  return flags;
}

template <class T>
void store_block(const DenseView<T>& X, int64_t first, int m, const Block<T>& blk) {
  const int k = static_cast<int>(X.cols);
  for (int j = 0; j < m; ++j) {
    T* x = X.row(first + j);
    for (int r = 0; r < k; ++r) x[r] = blk.w[static_cast<size_t>(r) * kBlock<T> + j];
  }
}

// acc[j] = init[j] + Σ_r g[r] · W[r][j] for the kBlock<T> rows of a transposed block, summed in
// the order r = 0..k-1 (scikit-learn's order for the coordinate-descent gradient).
template <class T>
MFKIT_NMF_NOINLINE void block_row_product(const T* g, const T* W, int k, const T* init, T* acc) {
  T sum[kBlock<T>];
  for (int j = 0; j < kBlock<T>; ++j) sum[j] = init ? init[j] : T(0);
  for (int r = 0; r < k; ++r) {
    const T gr = g[r];
    const T* wr = W + static_cast<size_t>(r) * kBlock<T>;
    // Without the pragma GCC vectorizes the r loop instead (transposing on the fly), 3x slower.
#pragma omp simd
    for (int j = 0; j < kBlock<T>; ++j) sum[j] += gr * wr[j];
  }
  for (int j = 0; j < kBlock<T>; ++j) acc[j] = sum[j];
}

// Coordinate descent over the rows of a block sharing one G (l2 on its diagonal); blk.b holds
// b − l1. Components in order; all of a component's rows at once (rows are independent).
template <class T>
double cd_block(const T* G, int k, Block<T>& blk) {
  double violation = 0.0;
  T neg_b[kBlock<T>], grad[kBlock<T>];
  for (int t = 0; t < k; ++t) {
    const T* Gt = G + static_cast<size_t>(t) * k;
    T* wt = blk.w.data() + static_cast<size_t>(t) * kBlock<T>;
    const T* bt = blk.b.data() + static_cast<size_t>(t) * kBlock<T>;
    for (int j = 0; j < kBlock<T>; ++j) neg_b[j] = -bt[j];
    block_row_product(Gt, blk.w.data(), k, neg_b, grad);
    const T hess = Gt[t];
    T projected[kBlock<T>];
    if (hess != T(0)) {
#pragma omp simd
      for (int j = 0; j < kBlock<T>; ++j) {
        const T current = wt[j];
        projected[j] = std::abs(current == T(0) ? std::min(grad[j], T(0)) : grad[j]);
        const T next = current - grad[j] / hess;
        wt[j] = next > T(0) ? next : T(0);
      }
    } else {
      for (int j = 0; j < kBlock<T>; ++j)
        projected[j] = std::abs(wt[j] == T(0) ? std::min(grad[j], T(0)) : grad[j]);
    }
    for (int j = 0; j < kBlock<T>; ++j) violation += static_cast<double>(projected[j]);
  }
  return violation;
}

// Runs `step(blk, block, m)` on every block of rows, loaded (factors and b = R F, transposed)
// and stored back around it (Transposed = false: only b is prepared, row-major, and the step
// updates the rows of X in place). Blocks go in groups of kGroupBlocks to the threads; with
// `solved_gram`, each group also sums the outer products of its updated rows while they are in
// cache (XᵀX for the next step, saving a pass over X), into its own partial, and the partials
// are added in group order: the same result for any number of threads.
constexpr int kGroupBlocks = 32;

template <bool Transposed = true, class T, class Step>
void for_each_block(const CsrView<T>& R, const DenseView<const T>& F, const FixedSide<T>& side,
                    const DenseView<T>& X, int num_threads, double flops, T* solved_gram,
                    Step&& step) {
  constexpr int B = kBlock<T>;
  const int k = static_cast<int>(F.cols);
  const size_t kk = static_cast<size_t>(k) * k;
  const int64_t blocks = (R.rows + B - 1) / B;
  const int64_t groups = (blocks + kGroupBlocks - 1) / kGroupBlocks;
  if (solved_gram) flops += double(R.rows) * k * k;
  std::vector<T> partial(solved_gram ? static_cast<size_t>(groups) * kk : 0);
  ErrorCollector errors;
  sparse_detail::EntryFlags entries;
#pragma omp parallel num_threads(threads_for(flops, num_threads, kSweepMinFlops))
  {
    const FlushSubnormals flush;
    errors.run([&] {
      Block<T> blk(k);
      std::vector<const T*> rows(B);
      const std::vector<T> ones(B, T(1));
      int flags = 0;
#pragma omp for schedule(dynamic, 1)
      for (int64_t group = 0; group < groups; ++group) {
        T* G = solved_gram ? partial.data() + static_cast<size_t>(group) * kk : nullptr;
        if (G) std::fill(G, G + kk, T(0));
        const int64_t last = std::min(blocks, (group + 1) * kGroupBlocks);
        for (int64_t block = group * kGroupBlocks; block < last; ++block) {
          const int64_t first = block * B;
          const int m = static_cast<int>(std::min<int64_t>(B, R.rows - first));
          if constexpr (Transposed) {
            flags |= load_block(R, F, side.products, X, first, m, blk);
            step(blk, block, m);
            store_block(X, first, m, blk);
          } else {  // row-major: b = R F rows in blk.b, X rows updated in place by step
            for (int j = 0; j < m; ++j) {
              T* b = blk.b.data() + static_cast<size_t>(j) * k;
              if (side.products)
                std::copy(side.products + (first + j) * k, side.products + (first + j + 1) * k, b);
              else
                flags |= sparse_detail::sparse_row_product(R, first + j, F, b);
            }
            step(blk, block, m);
          }
          if (G) {
            for (int j = 0; j < m; ++j) rows[j] = X.row(first + j);
            add_weighted_outer_products(G, k, rows.data(), ones.data(), m);
          }
        }
      }
      entries.add(flags);
    });
  }
  errors.rethrow();
  entries.raise();
  if (solved_gram) {
    std::fill(solved_gram, solved_gram + kk, T(0));
    for (int64_t group = 0; group < groups; ++group)
      axpy(T(1), partial.data() + static_cast<size_t>(group) * kk, solved_gram,
           static_cast<int>(kk));
    mirror_upper(solved_gram, k);
  }
}

template <class T>
double cd_sweep(const CsrView<T>& R, const DenseView<const T>& F, const FixedSide<T>& side,
                const DenseView<T>& X, const NmfOptions<T>& opt, T* solved_gram = nullptr) {
  const int k = static_cast<int>(F.cols);
  std::vector<T> G;
  if (!opt.ignore_missing) {
    G = side.gram;
    for (int a = 0; a < k; ++a) G[static_cast<size_t>(a) * k + a] += opt.l2;
  }
  const double per_row = opt.ignore_missing ? double(k) * k / 2 : double(k);
  const double flops = (double(R.nnz()) * per_row + 2.0 * R.rows * k * k) * 2;
  ErrorCollector errors;
  sparse_detail::EntryFlags entries;
  if (!opt.ignore_missing) {
    const int64_t blocks = (R.rows + kBlock<T> - 1) / kBlock<T>;
    std::vector<double> block_violation(static_cast<size_t>(blocks), 0.0);
    for_each_block(R, F, side, X, opt.num_threads, flops, solved_gram,
                   [&](Block<T>& blk, int64_t block, int m) {
                     if (opt.l1 != T(0))
                       for (int r = 0; r < k; ++r)
                         for (int j = 0; j < m; ++j)
                           blk.b[static_cast<size_t>(r) * kBlock<T> + j] -= opt.l1;
                     block_violation[static_cast<size_t>(block)] = cd_block(G.data(), k, blk);
                   });
    double total = 0.0;
    for (double v : block_violation) total += v;
    return total;
  }
  std::vector<double> row_violation(static_cast<size_t>(R.rows), 0.0);
#pragma omp parallel num_threads(threads_for(flops, opt.num_threads, kSweepMinFlops))
  {
    const FlushSubnormals flush;
    errors.run([&] {
      std::vector<T> b(k), g(k), Gi(static_cast<size_t>(k) * k);
      std::vector<const T*> rows;
      std::vector<T> ones;
      const uint32_t cols = static_cast<uint32_t>(R.cols);
      int flags = 0;
#pragma omp for schedule(dynamic, 32)
      for (int64_t r = 0; r < R.rows; ++r) {
        if (errors.failed()) continue;
        errors.run([&] {
          T* w = X.row(r);
          const int64_t begin = R.indptr[r];
          const int n = static_cast<int>(R.indptr[r + 1] - begin);
          rows.clear();  // G_r = Σ over the row's stored j of f_j f_jᵀ, + l2 I
          for (int e = 0; e < n; ++e)
            if (sparse_detail::column_ok(R.indices[begin + e], cols))
              rows.push_back(F.row(R.indices[begin + e]));
          if (n == 0) {  // nothing observed: the factor row is 0
            std::fill(w, w + k, T(0));
            return;
          }
          const int valid = static_cast<int>(rows.size());
          ones.assign(valid, T(1));
          std::fill(Gi.begin(), Gi.end(), T(0));
          add_weighted_outer_products(Gi.data(), k, rows.data(), ones.data(), valid);
          mirror_upper(Gi.data(), k);
          for (int a = 0; a < k; ++a) Gi[static_cast<size_t>(a) * k + a] += opt.l2;
          flags |= sparse_detail::sparse_row_product(R, r, F, b.data());
          if (opt.l1 != T(0))
            for (int t = 0; t < k; ++t) b[t] -= opt.l1;
          row_violation[static_cast<size_t>(r)] = cd_row(Gi.data(), b.data(), w, g.data(), k);
        });
      }
      entries.add(flags);
    });
  }
  errors.rethrow();
  entries.raise();
  double total = 0.0;
  for (double v : row_violation) total += v;
  return total;
}

// Multiplicative updates shrink entries that should be 0 geometrically; left alone they become
// subnormal within a few dozen iterations, and arithmetic on subnormals is ~100x slower on x86
// (a fit slowed down twofold by iteration 30). So results below the smallest normal number are
// set to 0 (scikit-learn keeps them; the difference is below 1.2e-38 in float32).
template <class T>
inline T subnormal_floor(T flush_below) {
  return std::max(flush_below, std::numeric_limits<T>::min());
}

// w ← w ∘ (num / d) over `size` entries, d = den + l1 + l2·w (old w) with zeros replaced by eps,
// results below flush_below set to 0. Adding a zero penalty changes nothing (d >= 0), so no
// branches and the loop vectorizes.
template <class T>
inline void mu_apply(T* w, const T* num, const T* den, int size, T l1, T l2, T eps, T flush_below) {
#pragma omp simd
  for (int e = 0; e < size; ++e) {
    T d = (den[e] + l1) + l2 * w[e];
    d = d == T(0) ? eps : d;
    const T next = w[e] * (num[e] / d);
    w[e] = next < flush_below ? T(0) : next;
  }
}

// One multiplicative (Frobenius) update of the rows of a block: numerator blk.b = (R F) rows,
// denominator (G w) + l1 + l2·w (old w), zeros replaced by eps.
template <class T>
void mu_block(const T* G, int k, Block<T>& blk, T l1, T l2, T eps, T flush_below) {
  for (int t = 0; t < k; ++t)
    block_row_product(G + static_cast<size_t>(t) * k, blk.w.data(), k,
                      static_cast<const T*>(nullptr),
                      blk.d.data() + static_cast<size_t>(t) * kBlock<T>);
  mu_apply(blk.w.data(), blk.b.data(), blk.d.data(), static_cast<int>(blk.w.size()), l1, l2, eps,
           flush_below);
}

// The same update on m consecutive rows of X in place, row-major (no transposition): the
// denominators G w of two rows share every load of G (symmetric_matmul_rows).
template <class T>
void mu_rows(const T* G, int k, T* rows, const T* num, T* den, int m, T l1, T l2, T eps,
             T flush_below) {
  symmetric_matmul_rows(G, rows, den, k, m);
  mu_apply(rows, num, den, m * k, l1, l2, eps, flush_below);
}

template <class T>
void mu_sweep(const CsrView<T>& R, const DenseView<const T>& F, const FixedSide<T>& side,
              const DenseView<T>& X, const NmfOptions<T>& opt, T flush_below,
              T* solved_gram = nullptr) {
  flush_below = subnormal_floor(flush_below);
  const int k = static_cast<int>(F.cols);
  const bool kl = opt.loss == NmfLoss::KullbackLeibler;
  const T eps = static_cast<T>(kNmfEpsilon);
  const double flops =
      (double(R.nnz()) * (kl || opt.ignore_missing ? 2 : 1) + double(R.rows) * k) * k * 2;
  if (!kl && !opt.ignore_missing) {  // blocks of rows: numerator Σ x f, denominator G w
    for_each_block<false>(R, F, side, X, opt.num_threads, flops, solved_gram,
                          [&](Block<T>& blk, int64_t block, int m) {
                            mu_rows(side.gram.data(), k, X.row(block * kBlock<T>), blk.b.data(),
                                    blk.d.data(), m, opt.l1, opt.l2, eps, flush_below);
                          });
    return;
  }
  ErrorCollector errors;
  sparse_detail::EntryFlags entries;
#pragma omp parallel num_threads(threads_for(flops, opt.num_threads, kSweepMinFlops))
  {
    const FlushSubnormals flush;
    errors.run([&] {
      std::vector<T> num(k), den(k);
      const uint32_t cols = static_cast<uint32_t>(R.cols);
      int flags = 0;
#pragma omp for schedule(dynamic, 32)
      for (int64_t r = 0; r < R.rows; ++r) {
        T* w = X.row(r);
        const int64_t begin = R.indptr[r], end = R.indptr[r + 1];
        if (!kl) {  // ignoring missing cells: d = Σ over stored j of (w·f_j) f_j
          flags |= sparse_detail::sparse_row_product(R, r, F, num.data());
          std::fill(den.begin(), den.end(), T(0));
          for (int64_t e = begin; e < end; ++e) {
            if (e + kPrefetchAhead < end) prefetch_row(F.row(R.indices[e + kPrefetchAhead]), k);
            if (!sparse_detail::column_ok(R.indices[e], cols)) continue;
            const T* f = F.row(R.indices[e]);
            axpy(dot(w, f, k), f, den.data(), k);
          }
        } else {
          std::fill(num.begin(), num.end(), T(0));
          if (!opt.ignore_missing)
            std::copy(side.colsum.begin(), side.colsum.end(), den.begin());
          else
            std::fill(den.begin(), den.end(), T(0));
          for (int64_t e = begin; e < end; ++e) {
            if (e + kPrefetchAhead < end) prefetch_row(F.row(R.indices[e + kPrefetchAhead]), k);
            flags |= sparse_detail::entry_flags(R.indices[e], R.data[e], cols);
            if (!sparse_detail::column_ok(R.indices[e], cols)) continue;
            const T* f = F.row(R.indices[e]);
            T wh = dot(w, f, k);
            if (wh < eps) wh = eps;
            axpy(R.data[e] / wh, f, num.data(), k);
            if (opt.ignore_missing) axpy(T(1), f, den.data(), k);
          }
        }
        if (opt.l1 > T(0))
          for (int t = 0; t < k; ++t) den[t] += opt.l1;
        if (opt.l2 > T(0))
          for (int t = 0; t < k; ++t) den[t] = den[t] + opt.l2 * w[t];
        for (int t = 0; t < k; ++t) {
          const T d = den[t] == T(0) ? eps : den[t];
          w[t] *= num[t] / d;
          if (w[t] < flush_below) w[t] = T(0);
        }
      }
      entries.add(flags);
    });
  }
  errors.rethrow();
  entries.raise();
}

// The data term D(X, W Fᵀ) (no penalties) with FᵀF / column sums of F given in `side`.
template <class T>
double loss(const CsrView<T>& R, const DenseView<const T>& W, const DenseView<const T>& F,
            const FixedSide<T>& side, const NmfOptions<T>& opt) {
  const int k = static_cast<int>(F.cols);
  const bool kl = opt.loss == NmfLoss::KullbackLeibler;
  const double eps = kNmfEpsilon;
  std::vector<double> row_loss(static_cast<size_t>(R.rows), 0.0);
  const double flops = double(R.nnz()) * k * 2;
  ErrorCollector errors;
  sparse_detail::EntryFlags entries;
#pragma omp parallel num_threads(threads_for(flops, opt.num_threads, kSweepMinFlops))
  {
    const FlushSubnormals flush;
    errors.run([&] {
      const uint32_t cols = static_cast<uint32_t>(R.cols);
      int flags = 0;
#pragma omp for schedule(dynamic, 64)
      for (int64_t r = 0; r < R.rows; ++r) {
        const T* w = W.row(r);
        const int64_t begin = R.indptr[r], end = R.indptr[r + 1];
        double acc = 0.0;
        for (int64_t e = begin; e < end; ++e) {
          if (e + kPrefetchAhead < end) prefetch_row(F.row(R.indices[e + kPrefetchAhead]), k);
          flags |= sparse_detail::entry_flags(R.indices[e], R.data[e], cols);
          if (!sparse_detail::column_ok(R.indices[e], cols)) continue;
          const double x = R.data[e];
          const double wh = dot(w, F.row(R.indices[e]), k);
          if (!kl) {
            acc += opt.ignore_missing ? (x - wh) * (x - wh) : x * x - 2 * x * wh;
          } else {
            if (opt.ignore_missing) acc += wh;
            if (x > eps) acc += x * std::log(x / std::max(wh, eps)) - x;
          }
        }
        row_loss[static_cast<size_t>(r)] = acc;
      }
      entries.add(flags);
    });
  }
  errors.rethrow();
  entries.raise();
  double total = 0.0;
  for (double v : row_loss) total += v;
  if (opt.ignore_missing) return kl ? total : total / 2;
  if (!kl) {  // Σ over all cells of (WFᵀ)² = trace(WᵀW FᵀF)
    std::vector<T> GW(static_cast<size_t>(k) * k);
    gram<FlushSubnormals>(W, GW.data(), opt.num_threads, kSweepMinFlops);
    double trace = 0.0;
    for (size_t a = 0; a < GW.size(); ++a) trace += double(GW[a]) * double(side.gram[a]);
    return (total + trace) / 2;
  }
  const std::vector<T> wsum = column_sums(W);
  for (int t = 0; t < k; ++t) total += double(wsum[t]) * double(side.colsum[t]);
  return total;
}

}  // namespace nmf_detail

// G = FᵀF for the NMF kernels' `gram` arguments: dense.hpp's gram with subnormals flushed in
// every thread and the sweeps' threading threshold.
template <class T>
void nmf_gram(const DenseView<const T>& F, T* G, int num_threads) {
  const FlushSubnormals flush;
  require(F.cols >= 1, "n_components must be at least 1");
  gram<FlushSubnormals>(F, G, num_threads, kSweepMinFlops);
}

// One coordinate-descent (HALS) sweep over every row of X with F fixed, in place. `gram` is
// FᵀF when the caller has it (nullptr: computed here; unused when ignoring missing cells);
// `products` is R F (R.rows x k, e.g. from csr_transpose_matmul) when the caller has it; with
// `solved_gram` (k x k) the sweep also returns XᵀX of the updated X, the next step's `gram`
// (those three only for the Frobenius loss with missing cells as zeros; `solved_gram` is
// otherwise left untouched).
// Returns Σ |projected gradient| over all coordinates (scikit-learn's "violation").
template <class T>
double nmf_cd_update(const CsrView<T>& R, const DenseView<const T>& F, const T* gram,
                     const DenseView<T>& X, const NmfOptions<T>& opt, const T* products = nullptr,
                     T* solved_gram = nullptr) {
  const FlushSubnormals flush;
  nmf_detail::check_arguments(R, F, X.rows, X.cols, opt);
  auto side = nmf_detail::prepare(F, gram, opt);
  side.products = products;
  return nmf_detail::cd_sweep(R, F, side, X, opt, nmf_detail::usable_gram(solved_gram, opt));
}

// One multiplicative update of every row of X with F fixed, in place; entries that end below
// `flush_below` become 0 (scikit-learn's KL step of H uses float64 epsilon, every other 0).
template <class T>
void nmf_mu_update(const CsrView<T>& R, const DenseView<const T>& F, const T* gram,
                   const DenseView<T>& X, const NmfOptions<T>& opt, T flush_below,
                   const T* products = nullptr, T* solved_gram = nullptr) {
  const FlushSubnormals flush;
  nmf_detail::check_arguments(R, F, X.rows, X.cols, opt);
  auto side = nmf_detail::prepare(F, gram, opt);
  side.products = products;
  T* out = nmf_detail::usable_gram(solved_gram, opt);
  nmf_detail::mu_sweep(R, F, side, X, opt, flush_below, out);
}

// The data term D(X, W Fᵀ): ½‖X − WFᵀ‖² or the generalized KL divergence (scikit-learn's
// _beta_divergence: KL terms only where x > ε, WFᵀ clamped below at ε inside the log), over all
// cells or, ignoring missing cells, over the stored entries only. O(nnz·k + (n + m)·k²).
template <class T>
double nmf_loss(const CsrView<T>& R, const DenseView<const T>& W, const DenseView<const T>& F,
                const NmfOptions<T>& opt) {
  const FlushSubnormals flush;
  nmf_detail::check_arguments(R, F, W.rows, W.cols, opt);
  const auto side = nmf_detail::prepare(F, static_cast<const T*>(nullptr), opt);
  return nmf_detail::loss(R, W, F, side, opt);
}

// Solves the rows of X with F fixed (scikit-learn's transform, update_H=False), starting from the
// X given, until scikit-learn's stopping rule holds or max_iter sweeps are done:
// - coordinate descent: stop once violation / violation of the first sweep <= tol (or the first
//   violation is 0);
// - multiplicative: every 10 sweeps (tol > 0) compute e = √(2 D); stop once
//   (previous e − e) / e at the start < tol (immediately if e at the start is 0).
// Returns the number of sweeps done.
template <class T>
int nmf_solve_rows(const CsrView<T>& R, const DenseView<const T>& F, const T* fixed_gram,
                   const DenseView<T>& X, const NmfOptions<T>& opt, NmfSolver solver, int max_iter,
                   double tol) {
  const FlushSubnormals flush;
  nmf_detail::check_arguments(R, F, X.rows, X.cols, opt);
  require(max_iter >= 1, "max_iter must be at least 1");
  require(tol >= 0 && std::isfinite(tol), "tol must be a finite number >= 0");
  auto side = nmf_detail::prepare(F, fixed_gram, opt);
  const DenseView<const T> Xc{X.rows, X.cols, X.ptr};
  const int k = static_cast<int>(F.cols);
  // F is fixed: with the Frobenius loss and missing cells as zeros, R F is computed once for
  // all sweeps (scikit-learn's transform caches it too), and the loss needs no pass over R:
  // ½‖R − X Fᵀ‖² = ½(‖R‖² − 2 Σ_i x_i·(R F)_i + trace(XᵀX FᵀF)).
  std::vector<T> products;
  double squared_norm = 0.0;
  if (opt.loss == NmfLoss::Frobenius && !opt.ignore_missing) {
    products.resize(static_cast<size_t>(R.rows) * k);
    sparse_detail::raise_entry_flags(
        sparse_detail::products(R, F, products.data(), opt.num_threads));
    side.products = products.data();
    for (int64_t e = 0; e < R.nnz(); ++e) squared_norm += double(R.data[e]) * double(R.data[e]);
  }
  const auto data_term = [&] {
    if (!side.products) return nmf_detail::loss(R, Xc, F, side, opt);
    std::vector<T> GX(static_cast<size_t>(k) * k);
    gram<FlushSubnormals>(Xc, GX.data(), opt.num_threads, kSweepMinFlops);
    double cross = 0.0, trace = 0.0;
    for (int64_t i = 0; i < X.rows; ++i) cross += double(dot(Xc.row(i), side.products + i * k, k));
    for (size_t a = 0; a < GX.size(); ++a) trace += double(GX[a]) * double(side.gram[a]);
    return (squared_norm - 2 * cross + trace) / 2;
  };
  int n_iter = 1;
  if (solver == NmfSolver::CoordinateDescent) {
    double first = 0.0;
    for (n_iter = 1; n_iter <= max_iter; ++n_iter) {
      const double violation = nmf_detail::cd_sweep(R, F, side, X, opt);
      if (n_iter == 1) first = violation;
      if (first == 0.0 || violation / first <= tol) break;
    }
  } else {
    const auto error = [&] { return std::sqrt(2 * std::max(data_term(), 0.0)); };
    const double initial = tol > 0 ? error() : 0.0;
    double previous = initial;
    // scikit-learn's rule, looked at after every 10th sweep: true to stop.
    const auto converged = [&](int sweeps_done) {
      if (!(tol > 0 && sweeps_done % 10 == 0)) return false;
      if (initial == 0.0) return true;
      const double current = error();
      if ((previous - current) / initial < tol) return true;
      previous = current;
      return false;
    };
    if (side.products) {
      // Rows are independent with F fixed and the rule looks at W only every 10 sweeps, so each
      // block of rows runs all the sweeps up to the next check while it sits in cache.
      const T eps = static_cast<T>(kNmfEpsilon);
      const double flops = (double(R.rows) * k * k + double(R.rows) * k) * 2 * 10;
      n_iter = 0;
      while (n_iter < max_iter) {
        const int sweeps =
            tol > 0 ? std::min(10 - n_iter % 10, max_iter - n_iter) : max_iter - n_iter;
        nmf_detail::for_each_block(R, F, side, X, opt.num_threads, flops, static_cast<T*>(nullptr),
                                   [&](nmf_detail::Block<T>& blk, int64_t, int) {
                                     for (int sweep = 0; sweep < sweeps; ++sweep)
                                       nmf_detail::mu_block(side.gram.data(), k, blk, opt.l1,
                                                            opt.l2, eps,
                                                            nmf_detail::subnormal_floor(T(0)));
                                   });
        n_iter += sweeps;
        if (converged(n_iter)) break;
      }
      return n_iter;
    }
    for (n_iter = 1; n_iter <= max_iter; ++n_iter) {
      nmf_detail::mu_sweep(R, F, side, X, opt, T(0));
      if (converged(n_iter)) break;
    }
  }
  return std::min(n_iter, max_iter);
}

MFKIT_LEVEL_END
}  // namespace mfkit
