// Implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008).
//
// Objective:  sum_{u,i} c_ui (p_ui - x_uᵀ y_i)^2 + sum_u λ_u |x_u|^2 + sum_i λ_i |y_i|^2
// with, for a stored value r:  p = [r > 0],  c = 1 + α|r|  (unstored: p = 0, c = 1), and
// λ_row = λ · n_row^ν (n_row = stored entries in the row; ν = 0 is the paper's plain form), or
// under the frequency scheme λ_row = λ · (n_row + N/α)^ν, N the rows of the other side: Rendle et
// al. (RecSys 2022)'s λ·(n + α₀N)^ν, their unobserved-pair weight α₀ being 1/α here (see
// reference/als.py and the README for the mapping of the two losses).
//
// One half-sweep solves every row x_u of X with Y fixed:
//   (YᵀY + Yᵀ(C_u - I)Y + λ_u I) x_u = Yᵀ C_u p_u          (Hu et al., eq. 4)
// YᵀY is computed once per half-sweep; the row term only touches the row's stored items.
// Rows with no stored entries have b = 0, so their exact solution is x_u = 0.
//
// Exact solves of short rows use the Woodbury identity. With B = YᵀY + λI (shared by all rows),
// D = C_u - I restricted to the row's n_u items and W_u = Y_u B⁻¹ (rows B⁻¹y_j):
//   A⁻¹b = B⁻¹b - W_uᵀ S⁻¹ Y_u B⁻¹b,   S = D⁻¹ + Y_u W_uᵀ   (n_u x n_u)
// and since B⁻¹b = W_uᵀ(c∘p) and Y_u W_uᵀ = S - D⁻¹, this collapses to
//   x_u = W_uᵀ S⁻¹ D⁻¹ (c∘p).
// Cost O(n_u²k + n_u³) instead of O(n_u k² + k³): the cheaper path whenever n_u < k, which is
// most rows of power-law data. B⁻¹Y is computed once per half-sweep, O(n k²).
//
// The block solver is iALS++'s subspace descent (Rendle et al., "iALS++: Speeding up Matrix
// Factorization with Subspace Optimization", 2021): for each block B of b consecutive coordinates
// in turn, x_B becomes the exact minimizer of the row's objective with the others fixed,
//   A_BB x_B = b_B - A_{B,¬B} x_¬B   (solved in residual form, see solve_block_subspace),
// A's row term applied through the predictions y_iᵀx of the row's items, kept up to date.
// Per sweep O(n_u k b + k² + k b²) instead of Cholesky's O(n_u k² + k³); b = k is the exact solve.
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
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

enum class AlsSolver { Cholesky, ConjugateGradient, Block };
enum class AlsRegularization { Count, Frequency };  // λ·n^ν or λ·(n + N/α)^ν

template <class T>
struct AlsOptions {
  T regularization = T(0.01);
  T regularization_exponent = T(0);  // ν in λ · n^ν
  T alpha = T(1);
  AlsRegularization regularization_scheme = AlsRegularization::Count;
  AlsSolver solver = AlsSolver::ConjugateGradient;
  int cg_steps = 3;
  int block_size = 32;   // coordinates per block (block solver); clamped to the factors
  int block_sweeps = 1;  // passes over all blocks per row and half-sweep (block solver)
  int num_threads = 1;
};

// Confidence and preference of one stored value r.
template <class T>
inline T als_confidence(T r, T alpha) {
  return T(1) + alpha * std::abs(r);
}
template <class T>
inline T als_preference(T r) {
  return r > T(0) ? T(1) : T(0);
}

// λ_row of a row with `count` stored entries; `other_rows` = N, the rows of the other side.
template <class T>
inline T als_row_regularization(const AlsOptions<T>& opt, int64_t count, int64_t other_rows) {
  if (opt.regularization_exponent == T(0)) return opt.regularization;
  if (opt.regularization_scheme == AlsRegularization::Frequency)  // in double, as the reference
    return static_cast<T>(double(opt.regularization) *
                          std::pow(double(count) + double(other_rows) / double(opt.alpha),
                                   double(opt.regularization_exponent)));
  return opt.regularization * std::pow(static_cast<T>(count), opt.regularization_exponent);
}

namespace detail {

constexpr int kBlockRows = 8;  // rows handled together; CG shares each pass over YᵀY among them

template <class T>
void check_als_arguments(const CsrView<T>& R, const DenseView<const T>& Y, int64_t x_rows,
                         int64_t x_cols, const AlsOptions<T>& opt) {
  check_solve_shapes(
      R, Y, x_rows, x_cols,
      {"factors must be at least 1", "user and item factors must have the same number of columns",
       "matrix rows must equal the number of factor rows being solved",
       "matrix columns must equal the number of fixed factor rows"});
  R.debug_validate("user_items");
  require_finite_nonnegative(opt.regularization, "regularization");
  require_finite_nonnegative(opt.regularization_exponent, "regularization_exponent");
  require_finite_nonnegative(opt.alpha, "alpha");
  require(opt.cg_steps >= 1, "cg_steps must be at least 1");
  require(opt.block_size >= 1, "block_size must be at least 1");
  require(opt.block_sweeps >= 1, "block_sweeps must be at least 1");
  require(opt.regularization_scheme != AlsRegularization::Frequency || opt.alpha > T(0),
          "regularization_scheme='frequency' needs alpha > 0");
}

// The stored entries of one row, as the solvers read them.
template <class T>
struct RowEntries {
  int n = 0;
  const T* const* y = nullptr;  // factor rows of the row's items
  const T* const* w = nullptr;  // the same rows of B⁻¹Y (Woodbury path only)
  const T* cp = nullptr;        // c·p
  const T* cm1 = nullptr;       // c - 1
};

// Entries of a block of consecutive rows, gathered into buffers reused from block to block.
template <class T>
class BlockEntries {
 public:
  void gather(const CsrView<T>& R, const DenseView<const T>& Y, int64_t first, int count, T alpha,
              const T* BinvY) {
    const int64_t begin = R.indptr[first];
    const size_t n = static_cast<size_t>(R.indptr[first + count] - begin);
    y_.resize(n);
    w_.resize(BinvY ? n : 0);
    cp_.resize(n);
    cm1_.resize(n);
    count_ = count;
    for (int j = 0; j <= count; ++j) offset_[j] = static_cast<int>(R.indptr[first + j] - begin);
    for (size_t e = 0; e < n; ++e) {
      const T r = R.data[begin + e];
      const int64_t item = R.indices[begin + e];
      const T c = als_confidence(r, alpha);
      y_[e] = Y.row(item);
      if (BinvY) w_[e] = BinvY + item * Y.cols;
      cp_[e] = c * als_preference(r);
      cm1_[e] = c - T(1);
    }
  }

  RowEntries<T> row(int j) const {
    const int o = offset_[j];
    return {offset_[j + 1] - o, y_.data() + o, w_.empty() ? nullptr : w_.data() + o, cp_.data() + o,
            cm1_.data() + o};
  }

 private:
  int count_ = 0;
  int offset_[kBlockRows + 1] = {};
  std::vector<const T*> y_, w_;
  std::vector<T> cp_, cm1_;
};

// Memory of one thread, reused for all its blocks.
template <class T>
struct Workspace {
  explicit Workspace(int k)
      : A(static_cast<size_t>(k) * k),
        b(k),
        R(static_cast<size_t>(kBlockRows) * k),
        P(R.size()),
        AP(R.size()) {}
  BlockEntries<T> entries;
  std::vector<T> A, b;       // direct solve
  std::vector<T> S, z;       // Woodbury system (n_u x n_u) and right-hand side
  std::vector<T> R, P, AP;   // CG residuals, directions and A·directions of a block
  std::vector<T> s;          // block solver: the predictions y_iᵀx of the rows' items
  std::vector<const T*> yb;  // block solver: the block's part of each factor row
};

// Exact row solve by Cholesky of YᵀY + Yᵀ(C_u - I)Y + λ_u I.
template <class T>
void solve_row_cholesky(const T* G, int k, T lambda, const RowEntries<T>& e, Workspace<T>& ws, T* x,
                        int64_t row) {
  std::copy(G, G + static_cast<size_t>(k) * k, ws.A.begin());
  for (int a = 0; a < k; ++a) ws.A[static_cast<size_t>(a) * k + a] += lambda;
  add_weighted_outer_products(ws.A.data(), k, e.y, e.cm1, e.n);
  std::fill(ws.b.begin(), ws.b.end(), T(0));
  for (int i = 0; i < e.n; ++i)
    if (e.cp[i] != T(0)) axpy(e.cp[i], e.y[i], ws.b.data(), k);
  if (!cholesky_upper(ws.A.data(), k))
    throw NumericalError(
        "ALS: the system for row " + std::to_string(row) +
        " is not positive definite (numerically singular); increase regularization");
  cholesky_solve_upper(ws.A.data(), ws.b.data(), k);
  std::copy(ws.b.begin(), ws.b.end(), x);
}

// iALS++ subspace descent of the m rows of a block, warm-started from X (see the top of this
// file). Each block step is the exact minimization over x_B in residual form,
//   x_B += A_BB⁻¹ (b - A x)_B,
//   (b - A x)_B = Σ_i (c_i p_i - (c_i - 1) y_iᵀx) y_iB - (YᵀY x)_B - λ x_B,
// with y_iᵀx and YᵀY x kept up to date as x_B changes: O(n_u b + k b) per block instead of
// recomputing them, O(n_u k + k²). The m rows go through the blocks in lockstep, so that YᵀY X
// and its updates run as panel products for all of them (each row's sums in the same order
// whatever m is: the result does not depend on the rows around it).
template <class T>
void solve_block_subspace(const T* G, int k, const T* lambda, int m, int block_size, int sweeps,
                          Workspace<T>& ws, T* X, int64_t first_row) {
  int offset[kBlockRows + 1] = {};  // each row's entries in s and yb
  for (int j = 0; j < m; ++j) offset[j + 1] = offset[j] + ws.entries.row(j).n;
  ws.s.resize(offset[m]);
  ws.yb.resize(offset[m]);
  T* GX = ws.R.data();       // m x k: YᵀY x of every row
  T* update = ws.AP.data();  // m x k: YᵀY's change, Δ_B (YᵀY)_{B,:}
  T* steps = ws.P.data();    // m x b: the block's steps Δ_B (0 for empty rows)
  symmetric_matmul_rows(G, X, GX, k, m);
  for (int j = 0; j < m; ++j) {
    const RowEntries<T> e = ws.entries.row(j);
    T* x = X + static_cast<int64_t>(j) * k;
    if (e.n == 0) std::fill(x, x + k, T(0));  // b = 0: the exact solution is 0
    for (int i = 0; i < e.n; ++i) ws.s[offset[j] + i] = dot(e.y[i], x, k);  // y_iᵀx
  }
  T* A = ws.A.data();
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    for (int first = 0; first < k; first += block_size) {
      const int b = std::min(block_size, k - first);
      for (int j = 0; j < m; ++j) {
        const RowEntries<T> e = ws.entries.row(j);
        T* step = steps + static_cast<int64_t>(j) * b;
        if (e.n == 0) {
          std::fill(step, step + b, T(0));
          continue;
        }
        T* x = X + static_cast<int64_t>(j) * k;
        const T* gx = GX + static_cast<int64_t>(j) * k;
        T* s = ws.s.data() + offset[j];
        const T** yb = ws.yb.data() + offset[j];
        // A_BB = (YᵀY)_BB + λI + Σ_i (c_i - 1) y_iB y_iBᵀ (upper triangle); step = (b - A x)_B
        for (int a = 0; a < b; ++a) {
          const T* g = G + static_cast<int64_t>(first + a) * k;
          std::copy(g + first, g + first + b, A + static_cast<int64_t>(a) * b);
          A[static_cast<int64_t>(a) * b + a] += lambda[j];
          step[a] = -gx[first + a] - lambda[j] * x[first + a];
        }
        for (int i = 0; i < e.n; ++i) {
          yb[i] = e.y[i] + first;
          axpy(e.cp[i] - e.cm1[i] * s[i], yb[i], step, b);
        }
        add_weighted_outer_products(A, b, yb, e.cm1, e.n);
        if (!cholesky_upper(A, b))
          throw NumericalError(
              "ALS: the system for row " + std::to_string(first_row + j) +
              " is not positive definite (numerically singular); increase regularization");
        cholesky_solve_upper(A, step, b);
        axpy(T(1), step, x + first, b);
        for (int i = 0; i < e.n; ++i) s[i] += dot(yb[i], step, b);
      }
      // YᵀY X += Δ_B (YᵀY)_{B,:} for the m rows at once
      matmul_detail::panel_matmul(steps, b, G + static_cast<int64_t>(first) * k, k, update, k, m, b,
                                  k);
      for (int64_t v = 0; v < static_cast<int64_t>(m) * k; ++v) GX[v] += update[v];
    }
  }
}

// Exact row solve by the Woodbury form x = W_uᵀ S⁻¹ D⁻¹(c∘p) (see the top of this file).
// Needs c_ui > 1 for every item of the row. Returns false if S is numerically not positive
// definite, in which case the caller falls back to the direct solve.
template <class T>
bool solve_row_woodbury(int k, const RowEntries<T>& e, Workspace<T>& ws, T* x) {
  const int n = e.n;
  for (int i = 0; i < n; ++i)
    if (!(e.cm1[i] > T(0))) return false;
  ws.S.resize(static_cast<size_t>(n) * n);
  ws.z.resize(n);
  for (int i = 0; i < n; ++i) {  // n < k rows: request them all at once
    prefetch_row(e.y[i], k);
    prefetch_row(e.w[i], k);
  }
  for (int i = 0; i < n; ++i) {
    T* row = ws.S.data() + static_cast<size_t>(i) * n;
    for (int j = i; j < n; ++j) row[j] = dot(e.y[i], e.w[j], k);
    row[i] += T(1) / e.cm1[i];
    ws.z[i] = e.cp[i] / e.cm1[i];
  }
  if (!cholesky_upper(ws.S.data(), n)) return false;
  cholesky_solve_upper(ws.S.data(), ws.z.data(), n);
  std::fill(x, x + k, T(0));
  for (int j = 0; j < n; ++j) axpy(ws.z[j], e.w[j], x, k);
  return true;
}

// B⁻¹Y (rows B⁻¹y_j, B = YᵀY + λI) for the Woodbury path, or an empty vector when that path
// does not pay for this half-sweep (or does not apply: per-row λ, α = 0, B singular).
template <class T>
std::vector<T> woodbury_factors(const CsrView<T>& R, const DenseView<const T>& Y, const T* G,
                                const AlsOptions<T>& opt) {
  const int k = static_cast<int>(Y.cols);
  if (opt.solver != AlsSolver::Cholesky || opt.regularization_exponent != T(0) ||
      !(opt.alpha > T(0)))
    return {};
  // Flops: a row shorter than k saves (n k²/2 + k³/6) - (n²k/2 + n³/6); B⁻¹Y costs ~n_Y k².
  double saved = 0;
  for (int64_t u = 0; u < R.rows; ++u) {
    const double n = double(R.indptr[u + 1] - R.indptr[u]);
    if (n > 0 && n < k)
      saved += (n * k * k / 2 + double(k) * k * k / 6) - (n * n * k / 2 + n * n * n / 6);
  }
  if (saved < double(Y.rows) * k * k) return {};

  // B⁻¹ explicitly (k solves, O(k³)), then B⁻¹Y as one blocked product: far faster than n
  // triangular solves, and accurate enough since B ⪰ λI is well conditioned.
  std::vector<T> B(G, G + static_cast<size_t>(k) * k);
  for (int a = 0; a < k; ++a) B[static_cast<size_t>(a) * k + a] += opt.regularization;
  if (!cholesky_upper(B.data(), k)) return {};
  std::vector<T> Binv(static_cast<size_t>(k) * k, T(0));
  for (int a = 0; a < k; ++a) {
    T* column = Binv.data() + static_cast<size_t>(a) * k;  // row a of the symmetric inverse
    column[a] = T(1);
    cholesky_solve_upper(B.data(), column, k);
  }
  std::vector<T> BinvY(static_cast<size_t>(Y.rows) * k);
  const int64_t blocks = (Y.rows + kBlockRows - 1) / kBlockRows;
#pragma omp parallel for schedule(static) \
    num_threads(threads_for(double(Y.rows) * k * k, opt.num_threads))
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t first = block * kBlockRows;
    const int m = static_cast<int>(std::min<int64_t>(kBlockRows, Y.rows - first));
    symmetric_matmul_rows(Binv.data(), Y.row(first), BinvY.data() + first * k, k, m);
  }
  return BinvY;
}

// out += Σ_i coefficient(i, y_iᵀv) y_i over a row's entries: the sparse part of CG's A·v.
// Entries go four at a time (dot4 / axpy4): a lone y_iᵀv is a short dependency chain, and the
// factor rows arrive in random order from memory, so overlapping four hides latency.
template <class T, class Coefficient>
inline void add_sparse_products(const RowEntries<T>& e, const T* v, T* out, int k,
                                Coefficient coefficient) {
  int i = 0;
  for (; i + 4 <= e.n; i += 4) {
    for (int ahead = i + kPrefetchAhead; ahead < std::min(e.n, i + kPrefetchAhead + 4); ++ahead)
      prefetch_row(e.y[ahead], k);
    T yv[4], s[4];
    dot4(e.y + i, v, k, yv);
    for (int r = 0; r < 4; ++r) s[r] = coefficient(i + r, yv[r]);
    axpy4(s, e.y + i, out, k);
  }
  for (; i < e.n; ++i) axpy(coefficient(i, dot(e.y[i], v, k)), e.y[i], out, k);
}

// Conjugate gradient on each row's system, warm-started from the current x (Takács, Pilászy &
// Tikk, RecSys 2011). A·v is applied as YᵀY v + λ_u v + Σ_i (c_ui - 1)(y_iᵀv) y_i, never formed.
// The m rows of a block run in lockstep so that YᵀY is streamed once per step for all of them;
// each row's arithmetic is exactly that of a lone row (symmetric_matmul_rows guarantees it).
template <class T>
void solve_block_cg(const T* G, int k, const T* lambda, int m, int steps, Workspace<T>& ws, T* X) {
  T* R = ws.R.data();
  T* P = ws.P.data();
  T* AP = ws.AP.data();
  bool active[kBlockRows];
  double rs[kBlockRows];
  const double tiny = 1e-20;

  symmetric_matmul_rows(G, X, R, k, m);  // R = YᵀY X, then r = b - A x below
  for (int j = 0; j < m; ++j) {
    const RowEntries<T> e = ws.entries.row(j);
    T* x = X + static_cast<int64_t>(j) * k;
    T* r = R + static_cast<int64_t>(j) * k;
    active[j] = e.n > 0;
    if (!active[j]) {  // b = 0: the exact solution is 0
      std::fill(x, x + k, T(0));
      std::fill(P + static_cast<int64_t>(j) * k, P + static_cast<int64_t>(j + 1) * k, T(0));
      continue;
    }
    for (int a = 0; a < k; ++a) r[a] = -r[a] - lambda[j] * x[a];
    add_sparse_products(e, x, r, k, [&](int i, T yx) { return e.cp[i] - e.cm1[i] * yx; });
    std::copy(r, r + k, P + static_cast<int64_t>(j) * k);
    rs[j] = dot_wide(r, r, k);
  }

  for (int step = 0; step < steps; ++step) {
    bool any = false;
    for (int j = 0; j < m; ++j) {
      active[j] = active[j] && !(rs[j] < tiny);
      any = any || active[j];
    }
    if (!any) break;
    symmetric_matmul_rows(G, P, AP, k, m);
    for (int j = 0; j < m; ++j) {
      if (!active[j]) continue;
      const RowEntries<T> e = ws.entries.row(j);
      T* x = X + static_cast<int64_t>(j) * k;
      T* r = R + static_cast<int64_t>(j) * k;
      T* p = P + static_cast<int64_t>(j) * k;
      T* Ap = AP + static_cast<int64_t>(j) * k;
      for (int a = 0; a < k; ++a) Ap[a] += lambda[j] * p[a];
      add_sparse_products(e, p, Ap, k, [&](int i, T yp) { return e.cm1[i] * yp; });
      const T step_size = static_cast<T>(rs[j] / dot_wide(p, Ap, k));
      axpy(step_size, p, x, k);
      axpy(-step_size, Ap, r, k);
      const double rs_new = dot_wide(r, r, k);
      const T beta = static_cast<T>(rs_new / rs[j]);
      for (int a = 0; a < k; ++a) p[a] = r[a] + beta * p[a];
      rs[j] = rs_new;
    }
  }
}

}  // namespace detail

// Solves every row of X (R.rows x k) with Y (R.cols x k) fixed, given G = YᵀY (k x k, both
// triangles); X is updated in place (CG starts from it). Serving code keeps G cached, so that
// solving a few rows (new users) does not cost O(n k²). Rows are processed in fixed blocks of
// consecutive rows: the result does not depend on the number of threads.
template <class T>
void als_solve_rows(const CsrView<T>& R, const DenseView<const T>& Y, const T* G,
                    const DenseView<T>& X, const AlsOptions<T>& opt) {
  using detail::kBlockRows;
  detail::check_als_arguments(R, Y, X.rows, X.cols, opt);
  const int k = static_cast<int>(Y.cols);
  const std::vector<T> BinvY = detail::woodbury_factors(R, Y, G, opt);
  const int64_t blocks = (R.rows + kBlockRows - 1) / kBlockRows;
  const int steps = opt.solver == AlsSolver::Block
                        ? opt.block_sweeps * (std::min(opt.block_size, k) + 2)
                        : opt.cg_steps;
  const double flops = (double(R.nnz()) * (steps + 1) + double(R.rows) * k) * k * 2;

  ErrorCollector errors;
#pragma omp parallel num_threads(threads_for(flops, opt.num_threads))
  {
    errors.run([&] {
      detail::Workspace<T> ws(k);
#pragma omp for schedule(dynamic, 8)
      for (int64_t block = 0; block < blocks; ++block) {
        if (errors.failed()) continue;
        errors.run([&] {
          const int64_t first = block * kBlockRows;
          const int m = static_cast<int>(std::min<int64_t>(kBlockRows, R.rows - first));
          ws.entries.gather(R, Y, first, m, opt.alpha, BinvY.empty() ? nullptr : BinvY.data());
          T lambda[kBlockRows];
          for (int j = 0; j < m; ++j)
            lambda[j] = als_row_regularization(opt, ws.entries.row(j).n, Y.rows);
          if (opt.solver == AlsSolver::ConjugateGradient) {
            detail::solve_block_cg(G, k, lambda, m, opt.cg_steps, ws, X.row(first));
            return;
          }
          if (opt.solver == AlsSolver::Block) {
            detail::solve_block_subspace(G, k, lambda, m, std::min(opt.block_size, k),
                                         opt.block_sweeps, ws, X.row(first), first);
            return;
          }
          for (int j = 0; j < m; ++j) {
            const detail::RowEntries<T> e = ws.entries.row(j);
            T* x = X.row(first + j);
            if (e.n == 0)
              std::fill(x, x + k, T(0));  // b = 0: the exact solution is 0
            else if (!(e.w && e.n < k && detail::solve_row_woodbury(k, e, ws, x)))
              detail::solve_row_cholesky(G, k, lambda[j], e, ws, x, first + j);
          }
        });
      }
    });
  }
  errors.rethrow();
}

// One ALS half-sweep: G = YᵀY, then every row of X solved with Y fixed.
template <class T>
void als_half_sweep(const CsrView<T>& R, const DenseView<const T>& Y, const DenseView<T>& X,
                    const AlsOptions<T>& opt) {
  require(Y.cols >= 1, "factors must be at least 1");
  std::vector<T> G(static_cast<size_t>(Y.cols) * Y.cols);
  gram(Y, G.data(), opt.num_threads);
  als_solve_rows(R, Y, G.data(), X, opt);
}

// The full objective above, in O(nnz·k + (m + n)·k²): the sum over all m·n cells of
// (x_uᵀy_i)^2 is Σ_u x_uᵀ(YᵀY)x_u, and each stored cell then corrects its own term.
// Accumulated in double per row, rows summed in order (independent of the thread count).
template <class T>
double als_loss(const CsrView<T>& R, const DenseView<const T>& X, const DenseView<const T>& Y,
                const AlsOptions<T>& opt) {
  detail::check_als_arguments(R, Y, X.rows, X.cols, opt);
  const int k = static_cast<int>(Y.cols);
  std::vector<T> G(static_cast<size_t>(k) * k);
  gram(Y, G.data(), opt.num_threads);

  std::vector<double> row_loss(static_cast<size_t>(R.rows), 0.0);
  const double flops = (double(R.nnz()) + double(R.rows) * k) * k * 2;
  ErrorCollector errors;
#pragma omp parallel num_threads(threads_for(flops, opt.num_threads))
  {
    errors.run([&] {
      std::vector<T> Gx(k);
#pragma omp for schedule(dynamic, 256)
      for (int64_t u = 0; u < R.rows; ++u) {
        const T* x = X.row(u);
        symmetric_matvec(G.data(), x, Gx.data(), k);
        double loss = static_cast<double>(dot(x, Gx.data(), k));
        for (int64_t e = R.indptr[u]; e < R.indptr[u + 1]; ++e) {
          const T r = R.data[e];
          const double c = als_confidence(r, opt.alpha);
          const double p = als_preference(r);
          const double score = dot(x, Y.row(R.indices[e]), k);
          loss += c * (p - score) * (p - score) - score * score;
        }
        const int64_t count = R.indptr[u + 1] - R.indptr[u];
        loss += static_cast<double>(als_row_regularization(opt, count, Y.rows)) * dot(x, x, k);
        row_loss[static_cast<size_t>(u)] = loss;
      }
    });
  }
  errors.rethrow();

  double total = 0.0;
  for (double v : row_loss) total += v;
  std::vector<int64_t> item_count(static_cast<size_t>(Y.rows), 0);
  for (int64_t e = 0; e < R.nnz(); ++e) ++item_count[static_cast<size_t>(R.indices[e])];
  for (int64_t i = 0; i < Y.rows; ++i) {
    const T* y = Y.row(i);
    total += static_cast<double>(
                 als_row_regularization(opt, item_count[static_cast<size_t>(i)], X.rows)) *
             dot(y, y, k);
  }
  return total;
}

MFKIT_LEVEL_END
}  // namespace mfkit
