// Explicit-feedback matrix factorization: the rating model
//
//     r̂_ui = μ + b_u + b_i + p_uᵀ q_i          (biased; unbiased: r̂_ui = p_uᵀ q_i)
//
// fitted to the observed ratings K only, minimizing
//
//     L = Σ_{(u,i)∈K} [ (r_ui − r̂_ui)² + λ (‖p_u‖² + b_u² + ‖q_i‖² + b_i²) ]
//       = Σ_K (r_ui − r̂_ui)² + λ Σ_u n_u (‖p_u‖² + b_u²) + λ Σ_i n_i (‖q_i‖² + b_i²),
//
// (μ is fixed to the mean training rating) by two solvers:
//
// - Stochastic gradient descent (Funk 2006; Koren, Bell & Volinsky, IEEE Computer 2009): for each
//   rating, e = r − r̂, then b_u += γ(e − λ b_u), b_i += γ(e − λ b_i),
//   p_u += γ(e q_i − λ p_u), q_i += γ(e p_u − λ q_i) (both from the values before the step).
//   Parallel by stratification (Gemulla et al., KDD 2011; the block grid of LIBMF, Zhuang et al.,
//   RecSys 2013): users and items are split into `grid` blocks each, so the ratings fall into a
//   grid × grid array of blocks; a stratum is a set of `grid` blocks sharing no user block and no
//   item block ((b, (b + shift) mod grid) for b = 0..grid−1), so its blocks run in parallel
//   without touching the same factor rows. Each block is processed by one thread in its stored
//   order, and strata run one after another, so the result depends on the grid, the block order
//   and the stratum order only, never on the number of threads.
// - Alternating least squares with weighted-λ regularization (ALS-WR, Zhou et al., AAIM 2008):
//   every row is solved exactly over its observed entries with λ·n_u on the diagonal.
//
// The grid, the block contents, the stratum order and the shuffle seeds are chosen by the caller
// (Python draws them from the model's numpy Generator), so both backends consume the same order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mfkit/level.hpp"
#include "mfkit/dense.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/random.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

// Ratings as coordinate triplets grouped by block: block `ub * grid + ib` holds entries
// block_ptr[block] .. block_ptr[block + 1] − 1, whose users lie in user block `ub` and items in
// item block `ib` (user_block / item_block map every user / item to its block).
template <class T, class Index = const int32_t, class Value = const T>
struct RatingBlocks {
  int64_t nnz = 0;
  Index* users = nullptr;
  Index* items = nullptr;
  Value* ratings = nullptr;
  const int64_t* block_ptr = nullptr;
  const int32_t* user_block = nullptr;
  int64_t n_users = 0;
  const int32_t* item_block = nullptr;
  int64_t n_items = 0;
  int grid = 0;

  // O(nnz) check that the layout is what the parallel schedule relies on: two blocks of one
  // stratum then never share a user or an item, so threads never write the same row.
  void validate() const {
    require(grid >= 1, "ratings: the block grid must be at least 1 x 1");
    const int64_t blocks = static_cast<int64_t>(grid) * grid;
    require(block_ptr != nullptr && block_ptr[0] == 0 && block_ptr[blocks] == nnz,
            "ratings: block_ptr must run from 0 to the number of ratings");
    for (int64_t b = 0; b < blocks; ++b)
      require(block_ptr[b] <= block_ptr[b + 1], "ratings: block_ptr must be non-decreasing");
    bool ok = true;
    for (int64_t u = 0; u < n_users; ++u) ok = ok && user_block[u] >= 0 && user_block[u] < grid;
    for (int64_t i = 0; i < n_items; ++i) ok = ok && item_block[i] >= 0 && item_block[i] < grid;
    require(ok, "ratings: user_block / item_block values must lie in [0, grid)");
    for (int64_t b = 0; b < blocks && ok; ++b) {
      const int ub = static_cast<int>(b / grid), ib = static_cast<int>(b % grid);
      for (int64_t e = block_ptr[b]; e < block_ptr[b + 1]; ++e) {
        const int64_t u = users[e], i = items[e];
        if (u < 0 || u >= n_users || i < 0 || i >= n_items || user_block[u] != ub ||
            item_block[i] != ib) {
          ok = false;
          break;
        }
      }
    }
    require(ok,
            "ratings: an entry lies outside its block (user or item id out of range, or in "
            "another user / item block)");
  }
};

// Ratings between the prefetch of a pair of factor rows and their SGD step (measured: 4–16
// are equally good on MovieLens with k = 100).
constexpr int kSgdPrefetchAhead = 8;

template <class T>
struct ExplicitOptions {
  T global_mean = T(0);
  T learning_rate = T(0.005);
  T regularization = T(0.02);
  bool biased = true;
  int num_threads = 1;
};

// Shuffles every block's entries in place (Fisher–Yates, Knuth vol. 2 Algorithm P), block b with
// its own SplitMix64 stream, stream_seed(seed, b): the result does not depend on the thread count.
template <class T>
void explicit_shuffle_blocks(const RatingBlocks<T, int32_t, T>& R, uint64_t seed, int num_threads) {
  R.validate();
  const int64_t blocks = static_cast<int64_t>(R.grid) * R.grid;
  const int threads = threads_for(double(R.nnz) * 8, num_threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t b = 0; b < blocks; ++b) {
    SplitMix64 generator(stream_seed(seed, static_cast<uint64_t>(b)));
    const int64_t start = R.block_ptr[b];
    const int64_t n = R.block_ptr[b + 1] - start;
    for (int64_t i = n - 1; i >= 1; --i) {
      const int64_t j = static_cast<int64_t>(generator.below(static_cast<uint64_t>(i + 1)));
      std::swap(R.users[start + i], R.users[start + j]);
      std::swap(R.items[start + i], R.items[start + j]);
      std::swap(R.ratings[start + i], R.ratings[start + j]);
    }
  }
}

// One SGD step on rating r of (p, q) with biases (bu, bi).
template <class T>
inline void explicit_sgd_step(T* p, T* q, int k, T r, T& bu, T& bi, const ExplicitOptions<T>& opt) {
  const T lr = opt.learning_rate, reg = opt.regularization;
  T prediction = dot(p, q, k);
  if (opt.biased) prediction += opt.global_mean + bu + bi;
  const T e = r - prediction;
  if (opt.biased) {
    bu += lr * (e - reg * bu);
    bi += lr * (e - reg * bi);
  }
  const T a = T(1) - lr * reg, s = lr * e;
  for (int f = 0; f < k; ++f) {
    const T pf = p[f], qf = q[f];
    p[f] = a * pf + s * qf;
    q[f] = a * qf + s * pf;
  }
}

// One SGD epoch over all ratings: the strata in the order given by `shifts` (a permutation of
// 0..grid−1; stratum s holds blocks (b, (b + shifts[s]) mod grid)), every block in its stored
// order. P, Q, bu, bi are updated in place.
template <class T>
void explicit_sgd_epoch(const RatingBlocks<T>& R, const int32_t* shifts, const DenseView<T>& P,
                        const DenseView<T>& Q, T* user_bias, T* item_bias,
                        const ExplicitOptions<T>& opt) {
  R.validate();
  require(P.rows == R.n_users && Q.rows == R.n_items && P.cols == Q.cols,
          "factors: user_factors must be n_users x k and item_factors n_items x k");
  const int grid = R.grid;
  {
    std::vector<char> seen(grid, 0);
    bool ok = true;
    for (int s = 0; s < grid; ++s) {
      ok = ok && shifts[s] >= 0 && shifts[s] < grid && !seen[shifts[s]];
      if (ok) seen[shifts[s]] = 1;
    }
    require(ok, "strata must be a permutation of 0..grid-1");
  }
  const int k = static_cast<int>(P.cols);
  const int threads = grid < 2 ? 1 : threads_for(double(R.nnz) * k * 6, opt.num_threads);
#pragma omp parallel num_threads(threads)
  for (int s = 0; s < grid; ++s) {
#pragma omp for schedule(dynamic, 1)
    for (int b = 0; b < grid; ++b) {
      const int64_t block = static_cast<int64_t>(b) * grid + (b + shifts[s]) % grid;
      for (int64_t e = R.block_ptr[block]; e < R.block_ptr[block + 1]; ++e) {
        const int32_t u = R.users[e], i = R.items[e];
        if (e + kSgdPrefetchAhead < R.block_ptr[block + 1]) {
          prefetch_row(P.row(R.users[e + kSgdPrefetchAhead]), k);
          prefetch_row(Q.row(R.items[e + kSgdPrefetchAhead]), k);
        }
        explicit_sgd_step(P.row(u), Q.row(i), k, R.ratings[e], user_bias[u], item_bias[i], opt);
      }
    }
  }
}

// The objective L above (in double) over the ratings in R (users × items CSR). Each row's sum is
// computed by one thread and the rows are added in order: independent of the thread count.
template <class T>
double explicit_loss(const CsrView<T>& R, const DenseView<const T>& P, const DenseView<const T>& Q,
                     const T* user_bias, const T* item_bias, const ExplicitOptions<T>& opt) {
  R.debug_validate("ratings");
  require(P.rows == R.rows && Q.rows == R.cols && P.cols == Q.cols,
          "factors: user_factors must be n_users x k and item_factors n_items x k");
  const int k = static_cast<int>(P.cols);
  const int threads = threads_for(double(R.nnz()) * k * 2 + double(Q.rows) * k, opt.num_threads);
  std::vector<double> item_penalty(Q.rows), row_loss(R.rows);
#pragma omp parallel num_threads(threads)
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < Q.rows; ++i) {
      const T* q = Q.row(i);
      double penalty = static_cast<double>(dot(q, q, k));
      if (opt.biased) penalty += double(item_bias[i]) * item_bias[i];
      item_penalty[i] = penalty;
    }
#pragma omp for schedule(dynamic, 64)
    for (int64_t u = 0; u < R.rows; ++u) {
      const T* p = P.row(u);
      const int64_t start = R.indptr[u], end = R.indptr[u + 1];
      double errors = 0, penalties = 0;
      for (int64_t e = start; e < end; ++e) {
        const int32_t i = R.indices[e];
        if (e + kPrefetchAhead < end) prefetch_row(Q.row(R.indices[e + kPrefetchAhead]), k);
        T prediction = dot(p, Q.row(i), k);
        if (opt.biased) prediction += opt.global_mean + user_bias[u] + item_bias[i];
        const double err = double(R.data[e]) - double(prediction);
        errors += err * err;
        penalties += item_penalty[i];
      }
      double own = static_cast<double>(dot(p, p, k));
      if (opt.biased) own += double(user_bias[u]) * user_bias[u];
      row_loss[u] = errors + double(opt.regularization) * (penalties + double(end - start) * own);
    }
  }
  double total = 0;
  for (double v : row_loss) total += v;
  return total;
}

inline std::string explicit_singular_message(int64_t row) {
  return "explicit ALS: the system of row " + std::to_string(row) +
         " is singular; increase regularization";
}

// ALS-WR row solves: for every row u of R (ratings r_uj on the columns j), with the other side F
// fixed, the exact minimizer of Σ_j (t_j − z_jᵀ x)² + λ n_u ‖x‖², where
//   biased:   x = [x_u; b_u], z_j = [f_j; 1], t_j = r_uj − μ − c_j   (c = fixed_bias)
//   unbiased: x = x_u,        z_j = f_j,      t_j = r_uj
// i.e. x = (ZᵀZ + λ n_u I)⁻¹ Zᵀ t. Rows shorter than x use the push-through identity
// x = Zᵀ (ZZᵀ + λ n_u I)⁻¹ t (an n_u × n_u system). Rows without entries get x = 0.
// X (and solved_bias when biased) are written in place. With λ = 0 a short row gets the
// minimum-norm least-squares solution; a singular system raises NumericalError.
template <class T>
void explicit_als_solve_rows(const CsrView<T>& R, const DenseView<const T>& F, const T* fixed_bias,
                             const DenseView<T>& X, T* solved_bias, const ExplicitOptions<T>& opt) {
  R.debug_validate("ratings");
  require(R.cols == F.rows,
          "ratings: the number of columns must equal the rows of the fixed factors");
  require(X.rows == R.rows && X.cols == F.cols,
          "solved factors must have one row per rating row and the fixed factors' columns");
  const int k = static_cast<int>(F.cols);
  const int m = k + (opt.biased ? 1 : 0);
  const int threads =
      threads_for(double(R.nnz()) * m * m + double(R.rows) * m * m * m / 3, opt.num_threads);
  ErrorCollector errors;
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> A(static_cast<size_t>(m) * m), x(m), target, ones, augmented;
    std::vector<const T*> z;
#pragma omp for schedule(dynamic, 16)
    for (int64_t u = 0; u < R.rows; ++u) {
      if (errors.failed()) continue;
      errors.run([&] {
        const int64_t start = R.indptr[u];
        const int n = static_cast<int>(R.indptr[u + 1] - start);
        std::fill(x.begin(), x.end(), T(0));
        if (n > 0) {
          const T lambda = opt.regularization * static_cast<T>(n);
          target.resize(n);
          z.resize(n);
          if (opt.biased) augmented.resize(static_cast<size_t>(n) * m);
          for (int j = 0; j < n; ++j) {
            const int32_t c = R.indices[start + j];
            target[j] = R.data[start + j];
            if (opt.biased) {
              target[j] -= opt.global_mean + fixed_bias[c];
              T* row = augmented.data() + static_cast<int64_t>(j) * m;
              std::copy(F.row(c), F.row(c) + k, row);
              row[k] = T(1);
              z[j] = row;
            } else {
              z[j] = F.row(c);
            }
          }
          if (n < m) {  // push-through: (ZZᵀ + λ n_u I) c = t, x = Zᵀ c
            T* K = A.data();
            for (int a = 0; a < n; ++a) {
              for (int b = a; b < n; ++b) K[static_cast<int64_t>(a) * n + b] = dot(z[a], z[b], m);
              K[static_cast<int64_t>(a) * n + a] += lambda;
            }
            if (!cholesky_upper(K, n)) throw NumericalError(explicit_singular_message(u));
            cholesky_solve_upper(K, target.data(), n);
            for (int j = 0; j < n; ++j) axpy(target[j], z[j], x.data(), m);
          } else {  // (ZᵀZ + λ n_u I) x = Zᵀ t, upper triangle
            std::fill(A.begin(), A.end(), T(0));
            ones.assign(n, T(1));
            add_weighted_outer_products(A.data(), m, z.data(), ones.data(), n);
            for (int a = 0; a < m; ++a) A[static_cast<int64_t>(a) * m + a] += lambda;
            for (int j = 0; j < n; ++j) axpy(target[j], z[j], x.data(), m);
            if (!cholesky_upper(A.data(), m)) throw NumericalError(explicit_singular_message(u));
            cholesky_solve_upper(A.data(), x.data(), m);
          }
        }
        std::copy(x.begin(), x.begin() + k, X.row(u));
        if (opt.biased) solved_bias[u] = x[k];
      });
    }
  }
  errors.rethrow();
}

MFKIT_LEVEL_END
}  // namespace mfkit
