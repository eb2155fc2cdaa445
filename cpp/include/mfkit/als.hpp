// Implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008).
//
// Objective:  sum_{u,i} c_ui (p_ui - x_uᵀ y_i)^2 + sum_u λ_u |x_u|^2 + sum_i λ_i |y_i|^2
// with, for a stored value r:  p = [r > 0],  c = 1 + α|r|  (unstored: p = 0, c = 1), and
// λ_row = λ · n_row^ν (n_row = stored entries in the row; ν = 0 is the paper's plain form).
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
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "mfkit/dense.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/views.hpp"

namespace mfkit {

enum class AlsSolver { Cholesky, ConjugateGradient };

template <class T>
struct AlsOptions {
  T regularization = T(0.01);
  T regularization_exponent = T(0);  // ν in λ · n^ν
  T alpha = T(1);
  AlsSolver solver = AlsSolver::ConjugateGradient;
  int cg_steps = 3;
  int num_threads = 1;
};

// Confidence and preference of one stored value r.
template <class T>
inline T als_confidence(T r, T alpha) { return T(1) + alpha * std::abs(r); }
template <class T>
inline T als_preference(T r) { return r > T(0) ? T(1) : T(0); }

template <class T>
inline T als_row_regularization(const AlsOptions<T>& opt, int64_t count) {
  if (opt.regularization_exponent == T(0)) return opt.regularization;
  return opt.regularization * std::pow(static_cast<T>(count), opt.regularization_exponent);
}

namespace detail {

template <class T>
void check_als_arguments(const CsrView<T>& R, const DenseView<const T>& Y, int64_t x_rows,
                         int64_t x_cols, const AlsOptions<T>& opt) {
  require(Y.cols >= 1, "factors must be at least 1");
  require(x_cols == Y.cols, "user and item factors must have the same number of columns");
  require(R.rows == x_rows, "matrix rows must equal the number of factor rows being solved");
  require(R.cols == Y.rows, "matrix columns must equal the number of fixed factor rows");
  require(opt.regularization >= T(0) && std::isfinite(opt.regularization),
          "regularization must be a finite number >= 0");
  require(opt.regularization_exponent >= T(0) && std::isfinite(opt.regularization_exponent),
          "regularization_exponent must be a finite number >= 0");
  require(opt.alpha >= T(0) && std::isfinite(opt.alpha), "alpha must be a finite number >= 0");
  require(opt.cg_steps >= 1, "cg_steps must be at least 1");
  R.validate("user_items");
}

// Scratch memory of one thread, reused across its rows.
template <class T>
struct AlsRowScratch {
  explicit AlsRowScratch(int k) : A(static_cast<size_t>(k) * k), b(k), r(k), p(k), Ap(k) {}
  std::vector<T> A, b, r, p, Ap;
  std::vector<T> S, z;       // Woodbury system (n_u x n_u) and its right-hand side
  std::vector<const T*> y;   // the row's item factors
  std::vector<const T*> w;   // the same rows of B⁻¹Y (Woodbury path only)
  std::vector<T> c, cp;      // c_ui and c_ui * p_ui for those items
  std::vector<T> c_minus_1;  // c_ui - 1
};

template <class T>
void gather_row(const CsrView<T>& R, const DenseView<const T>& Y, int64_t u, T alpha,
                AlsRowScratch<T>& s, const T* BinvY = nullptr) {
  const int64_t begin = R.indptr[u], end = R.indptr[u + 1];
  const size_t n = static_cast<size_t>(end - begin);
  s.y.resize(n);
  s.c.resize(n);
  s.cp.resize(n);
  s.c_minus_1.resize(n);
  s.w.resize(BinvY ? n : 0);
  for (size_t e = 0; e < n; ++e) {
    const T r = R.data[begin + e];
    const T c = als_confidence(r, alpha);
    s.y[e] = Y.row(R.indices[begin + e]);
    s.c[e] = c;
    s.cp[e] = c * als_preference(r);
    s.c_minus_1[e] = c - T(1);
    if (BinvY) s.w[e] = BinvY + static_cast<int64_t>(R.indices[begin + e]) * Y.cols;
  }
}

// Exact row solve by the Woodbury form x = W_uᵀ S⁻¹ D⁻¹(c∘p) (see the top of this file).
// Needs c_ui > 1 for every item of the row. Returns false if S is numerically not positive
// definite, in which case the caller falls back to the direct solve.
template <class T>
bool solve_row_woodbury(int k, AlsRowScratch<T>& s, T* x) {
  const int n = static_cast<int>(s.y.size());
  s.S.resize(static_cast<size_t>(n) * n);
  s.z.resize(n);
  for (int i = 0; i < n; ++i) {
    T* row = s.S.data() + static_cast<size_t>(i) * n;
    for (int j = i; j < n; ++j) row[j] = dot(s.y[i], s.w[j], k);
    row[i] += T(1) / s.c_minus_1[i];
    s.z[i] = s.cp[i] / s.c_minus_1[i];
  }
  if (!cholesky_upper(s.S.data(), n)) return false;
  cholesky_solve_upper(s.S.data(), s.z.data(), n);
  std::fill(x, x + k, T(0));
  for (int j = 0; j < n; ++j) axpy(s.z[j], s.w[j], x, k);
  return true;
}

template <class T>
bool all_confidences_above_one(const AlsRowScratch<T>& s) {
  for (T v : s.c_minus_1)
    if (!(v > T(0))) return false;
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
  // Flop estimate: rows shorter than k save (n k²/2 + k³/6) - (n²k/2 + n³/6); B⁻¹Y costs ~n_Y k².
  double saved = 0;
  for (int64_t u = 0; u < R.rows; ++u) {
    const double n = double(R.indptr[u + 1] - R.indptr[u]);
    if (n > 0 && n < k) saved += (n * k * k / 2 + double(k) * k * k / 6) - (n * n * k / 2 + n * n * n / 6);
  }
  if (saved < double(Y.rows) * k * k) return {};

  std::vector<T> B(G, G + static_cast<size_t>(k) * k);
  for (int a = 0; a < k; ++a) B[static_cast<size_t>(a) * k + a] += opt.regularization;
  if (!cholesky_upper(B.data(), k)) return {};
  std::vector<T> BinvY(Y.ptr, Y.ptr + Y.rows * Y.cols);
#pragma omp parallel for schedule(static) num_threads(clamp_threads(opt.num_threads))
  for (int64_t j = 0; j < Y.rows; ++j) cholesky_solve_upper(B.data(), BinvY.data() + j * k, k);
  return BinvY;
}

// Exact row solve by Cholesky of YᵀY + Yᵀ(C_u - I)Y + λ_u I.
template <class T>
void solve_row_cholesky(const T* G, int k, T lambda, AlsRowScratch<T>& s, T* x, int64_t row) {
  std::copy(G, G + static_cast<size_t>(k) * k, s.A.begin());
  for (int a = 0; a < k; ++a) s.A[static_cast<size_t>(a) * k + a] += lambda;
  const int n = static_cast<int>(s.y.size());
  add_weighted_outer_products(s.A.data(), k, s.y.data(), s.c_minus_1.data(), n);
  std::fill(s.b.begin(), s.b.end(), T(0));
  for (int e = 0; e < n; ++e)
    if (s.cp[e] != T(0)) axpy(s.cp[e], s.y[e], s.b.data(), k);
  if (!cholesky_upper(s.A.data(), k))
    throw NumericalError("ALS: the system for row " + std::to_string(row) +
                         " is not positive definite; use regularization > 0");
  cholesky_solve_upper(s.A.data(), s.b.data(), k);
  std::copy(s.b.begin(), s.b.end(), x);
}

// Conjugate gradient on the same system, warm-started from the current x (Takács, Pilászy &
// Tikk, RecSys 2011). A·v is applied as YᵀY v + λ_u v + Σ_i (c_ui - 1)(y_iᵀv) y_i, never formed.
template <class T>
void solve_row_cg(const T* G, int k, T lambda, int steps, AlsRowScratch<T>& s, T* x) {
  const int n = static_cast<int>(s.y.size());
  T* r = s.r.data();
  T* p = s.p.data();
  T* Ap = s.Ap.data();
  // r = b - A x
  symmetric_matvec(G, x, r, k);
  for (int a = 0; a < k; ++a) r[a] = -r[a] - lambda * x[a];
  for (int e = 0; e < n; ++e) axpy(s.cp[e] - s.c_minus_1[e] * dot(s.y[e], x, k), s.y[e], r, k);
  std::copy(r, r + k, p);
  T rs = dot(r, r, k);
  const T tiny = T(1e-20);
  for (int step = 0; step < steps; ++step) {
    if (rs < tiny) break;
    symmetric_matvec(G, p, Ap, k);
    for (int a = 0; a < k; ++a) Ap[a] += lambda * p[a];
    for (int e = 0; e < n; ++e) axpy(s.c_minus_1[e] * dot(s.y[e], p, k), s.y[e], Ap, k);
    const T step_size = rs / dot(p, Ap, k);
    axpy(step_size, p, x, k);
    axpy(-step_size, Ap, r, k);
    const T rs_new = dot(r, r, k);
    const T beta = rs_new / rs;
    for (int a = 0; a < k; ++a) p[a] = r[a] + beta * p[a];
    rs = rs_new;
  }
}

}  // namespace detail

// Solves every row of X (R.rows x k) with Y (R.cols x k) fixed; X is updated in place.
template <class T>
void als_half_sweep(const CsrView<T>& R, const DenseView<const T>& Y, const DenseView<T>& X,
                    const AlsOptions<T>& opt) {
  detail::check_als_arguments(R, Y, X.rows, X.cols, opt);
  const int k = static_cast<int>(Y.cols);
  std::vector<T> G(static_cast<size_t>(k) * k);
  gram(Y, G.data(), opt.num_threads);
  const std::vector<T> BinvY = detail::woodbury_factors(R, Y, G.data(), opt);

  ErrorCollector errors;
#pragma omp parallel num_threads(clamp_threads(opt.num_threads))
  {
    errors.run([&] {
      detail::AlsRowScratch<T> scratch(k);
#pragma omp for schedule(dynamic, 64)
      for (int64_t u = 0; u < R.rows; ++u) {
        if (errors.failed()) continue;
        errors.run([&] {
          T* x = X.row(u);
          const int64_t count = R.indptr[u + 1] - R.indptr[u];
          if (count == 0) {
            std::fill(x, x + k, T(0));
            return;
          }
          const T lambda = als_row_regularization(opt, count);
          const bool woodbury = !BinvY.empty() && count < k;
          detail::gather_row(R, Y, u, opt.alpha, scratch, woodbury ? BinvY.data() : nullptr);
          if (opt.solver == AlsSolver::ConjugateGradient)
            detail::solve_row_cg(G.data(), k, lambda, opt.cg_steps, scratch, x);
          else if (!(woodbury && detail::all_confidences_above_one(scratch) &&
                     detail::solve_row_woodbury(k, scratch, x)))
            detail::solve_row_cholesky(G.data(), k, lambda, scratch, x, u);
        });
      }
    });
  }
  errors.rethrow();
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
  ErrorCollector errors;
#pragma omp parallel num_threads(clamp_threads(opt.num_threads))
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
        loss += static_cast<double>(als_row_regularization(opt, count)) * dot(x, x, k);
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
    total += static_cast<double>(als_row_regularization(opt, item_count[static_cast<size_t>(i)])) *
             dot(y, y, k);
  }
  return total;
}

}  // namespace mfkit
