// Small dense kernels on raw pointers, written so that the compiler vectorizes them without
// -ffast-math. Reductions use a fixed number of independent accumulators and a fixed final
// order, so a result depends only on its inputs (never on the thread that computes it).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mfkit/level.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

constexpr int kLanes = 16;  // independent partial sums in reductions

// Requests every cache line of a factor row ahead of use. Rows of the fixed factors are read in
// the data's random order, and the solvers are otherwise bound by waiting for those loads.
template <class T>
inline void prefetch_row(const T* row, int n) {
#if defined(__GNUC__) || defined(__clang__)
  for (int i = 0; i < n; i += static_cast<int>(64 / sizeof(T))) __builtin_prefetch(row + i);
#else
  (void)row;
  (void)n;
#endif
}

constexpr int kPrefetchAhead = 16;  // entries between a row's prefetch and its use

// The sum of kLanes partial sums by a pairwise (tree) reduction, written out so that it is fully
// unrolled: short dependency chains, fixed order. Overwrites acc.
template <class A>
inline A sum_lanes(A* acc) {
  static_assert(kLanes == 16, "the reduction below is written for 16 lanes");
  for (int j = 0; j < 8; ++j) acc[j] += acc[j + 8];
  for (int j = 0; j < 4; ++j) acc[j] += acc[j + 4];
  for (int j = 0; j < 2; ++j) acc[j] += acc[j + 2];
  return acc[0] + acc[1];
}

template <class T>
inline T dot(const T* a, const T* b, int n) {
  T acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i + j < n; ++j) acc[j] += a[i + j] * b[i + j];
  return sum_lanes(acc);
}

// dot() accumulated in double: for the scalars that steer an iteration (CG step sizes), where
// float32 rounding would otherwise be amplified over the steps.
template <class T>
inline double dot_wide(const T* a, const T* b, int n) {
  double acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += double(a[i + j]) * double(b[i + j]);
  for (int j = 0; i + j < n; ++j) acc[j] += double(a[i + j]) * double(b[i + j]);
  return sum_lanes(acc);
}

// out[r] = dot(a[r], b, n) for four vectors a[0..3] in one pass over b: four independent
// dependency chains instead of one, which is what bounds a lone dot of a short vector (its
// multiply-adds all feed the same few accumulators). Each result is bitwise that of dot().
template <class T>
inline void dot4(const T* const* a, const T* b, int n, T* out) {
  T acc[4][kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      acc[0][j] += a[0][i + j] * b[i + j];
      acc[1][j] += a[1][i + j] * b[i + j];
      acc[2][j] += a[2][i + j] * b[i + j];
      acc[3][j] += a[3][i + j] * b[i + j];
    }
  for (int r = 0; r < 4; ++r) {
    T* lane = acc[r];
    for (int j = 0; i + j < n; ++j) lane[j] += a[r][i + j] * b[i + j];
    out[r] = sum_lanes(lane);
  }
}

// y += s * x
template <class T>
inline void axpy(T s, const T* x, T* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += s * x[i];
}

// y += s[0] x[0] + s[1] x[1] + s[2] x[2] + s[3] x[3], in that order: y is loaded and stored once
// for four updates.
template <class T>
inline void axpy4(const T* s, const T* const* x, T* y, int n) {
  const T s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3];
  const T *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
  for (int i = 0; i < n; ++i) y[i] += s0 * x0[i] + s1 * x1[i] + s2 * x2[i] + s3 * x3[i];
}

// Y_j = A X_j for m vectors stored as the rows of X and Y (each n long), where A is symmetric,
// row-major n x n with both triangles stored, so Y_j[b] = Σ_a X_j[a] A[a][b].
//
// With AVX2 / AVX-512: a block of 8 outputs x 32 columns is accumulated in registers while the
// matching 32-column panel of A streams by (1.5x the portable form's throughput with AVX2, 4x
// with AVX-512, measured at n = 128 on the development machine). Portable
// form: rows of A four at a time, two outputs sharing every load. Either way every output element
// is summed in the same order whatever m is, so batching rows never changes a result.
namespace matmul_detail {

constexpr int kPanelRows = 8;      // outputs accumulated together
constexpr int kPanelColumns = 32;  // columns per panel

// Y[j][b0 + w] = Σ_a X[j][a] B[a][b0 + w] for j < M, w < kPanelColumns, a < depth: the M x 32
// accumulators stay in registers while B's 32-column panel streams by. Row strides ldx/ldb/ldy.
template <int M, class T>
inline void panel(const T* B, int64_t ldb, const T* X, int64_t ldx, T* Y, int64_t ldy, int depth,
                  int64_t b0) {
  T acc[M][kPanelColumns] = {};
  for (int a = 0; a < depth; ++a) {
    const T* column = B + a * ldb + b0;
    for (int j = 0; j < M; ++j) {
      const T x = X[j * ldx + a];
      for (int w = 0; w < kPanelColumns; ++w) acc[j][w] += x * column[w];
    }
  }
  for (int j = 0; j < M; ++j)
    for (int w = 0; w < kPanelColumns; ++w) Y[j * ldy + b0 + w] = acc[j][w];
}

// Y = X B for X (m x depth, row stride ldx), B (depth x n, row stride ldb), Y (m x n, row stride
// ldy), in panels; every element summed over a in order, whatever m and the panel it falls in.
template <class T>
inline void panel_matmul(const T* X, int64_t ldx, const T* B, int64_t ldb, T* Y, int64_t ldy, int m,
                         int depth, int64_t n) {
  int64_t b0 = 0;
  for (; b0 + kPanelColumns <= n; b0 += kPanelColumns) {
    int j = 0;
    for (; j + kPanelRows <= m; j += kPanelRows)
      panel<kPanelRows>(B, ldb, X + j * ldx, ldx, Y + j * ldy, ldy, depth, b0);
    // The remaining rows in panels of 4, 2, 1: as many independent sums in flight as possible.
    if (j + 4 <= m) panel<4>(B, ldb, X + j * ldx, ldx, Y + j * ldy, ldy, depth, b0), j += 4;
    if (j + 2 <= m) panel<2>(B, ldb, X + j * ldx, ldx, Y + j * ldy, ldy, depth, b0), j += 2;
    if (j < m) panel<1>(B, ldb, X + j * ldx, ldx, Y + j * ldy, ldy, depth, b0);
  }
  for (int j = 0; j < m; ++j)  // the last n % 32 columns, summed over a in the same order
    for (int64_t b = b0; b < n; ++b) {
      T sum = T(0);
      for (int a = 0; a < depth; ++a) sum += X[j * ldx + a] * B[a * ldb + b];
      Y[j * ldy + b] = sum;
    }
}

template <class T>
inline void blocked(const T* A, const T* X, T* Y, int n, int m) {
  panel_matmul(X, n, A, n, Y, n, m, n, n);
}

template <class T>
inline void portable(const T* A, const T* X, T* Y, int n, int m) {
  for (int64_t i = 0; i < static_cast<int64_t>(m) * n; ++i) Y[i] = T(0);
  int a = 0;
  for (; a + 4 <= n; a += 4) {
    const T* r0 = A + static_cast<int64_t>(a) * n;
    const T *r1 = r0 + n, *r2 = r1 + n, *r3 = r2 + n;
    int j = 0;
    for (; j + 2 <= m; j += 2) {  // two outputs share every load of A
      const T* x = X + static_cast<int64_t>(j) * n + a;
      const T* z = x + n;
      T* y = Y + static_cast<int64_t>(j) * n;
      T* w = y + n;
      const T x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
      const T z0 = z[0], z1 = z[1], z2 = z[2], z3 = z[3];
      for (int b = 0; b < n; ++b) {
        y[b] += x0 * r0[b] + x1 * r1[b] + x2 * r2[b] + x3 * r3[b];
        w[b] += z0 * r0[b] + z1 * r1[b] + z2 * r2[b] + z3 * r3[b];
      }
    }
    for (; j < m; ++j) {
      const T* x = X + static_cast<int64_t>(j) * n + a;
      T* y = Y + static_cast<int64_t>(j) * n;
      const T x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
      for (int b = 0; b < n; ++b) y[b] += x0 * r0[b] + x1 * r1[b] + x2 * r2[b] + x3 * r3[b];
    }
  }
  for (; a < n; ++a)
    for (int j = 0; j < m; ++j)
      axpy(X[static_cast<int64_t>(j) * n + a], A + static_cast<int64_t>(a) * n,
           Y + static_cast<int64_t>(j) * n, n);
}

}  // namespace matmul_detail

template <class T>
inline void symmetric_matmul_rows(const T* A, const T* X, T* Y, int n, int m) {
  if (MFKIT_WIDE_VECTORS)
    matmul_detail::blocked(A, X, Y, n, m);
  else
    matmul_detail::portable(A, X, Y, n, m);
}

template <class T>
inline void symmetric_matvec(const T* A, const T* x, T* y, int n) {
  symmetric_matmul_rows(A, x, y, n, 1);
}

// Upper triangle of A (row-major n x n) += sum_j w[j] * v_j v_jᵀ over `count` vectors.
// Four vectors per pass and two rows of A at a time, so each load of a vector element serves
// eight multiply-adds and each element of A is loaded and stored once per four updates.
template <class T>
inline void add_weighted_outer_products(T* A, int n, const T* const* v, const T* w, int count) {
  int j = 0;
  for (; j + 4 <= count; j += 4) {
    for (int ahead = j + kPrefetchAhead; ahead < std::min(count, j + kPrefetchAhead + 4); ++ahead)
      prefetch_row(v[ahead], n);
    const T *v0 = v[j], *v1 = v[j + 1], *v2 = v[j + 2], *v3 = v[j + 3];
    int a = 0;
    for (; a + 2 <= n; a += 2) {
      const T s0 = w[j] * v0[a], s1 = w[j + 1] * v1[a];
      const T s2 = w[j + 2] * v2[a], s3 = w[j + 3] * v3[a];
      const T t0 = w[j] * v0[a + 1], t1 = w[j + 1] * v1[a + 1];
      const T t2 = w[j + 2] * v2[a + 1], t3 = w[j + 3] * v3[a + 1];
      T* row = A + static_cast<int64_t>(a) * n;
      T* next = row + n;
      row[a] += s0 * v0[a] + s1 * v1[a] + s2 * v2[a] + s3 * v3[a];
      for (int b = a + 1; b < n; ++b) {
        row[b] += s0 * v0[b] + s1 * v1[b] + s2 * v2[b] + s3 * v3[b];
        next[b] += t0 * v0[b] + t1 * v1[b] + t2 * v2[b] + t3 * v3[b];
      }
    }
    if (a < n) {
      T* row = A + static_cast<int64_t>(a) * n;
      row[a] += w[j] * v0[a] * v0[a] + w[j + 1] * v1[a] * v1[a] + w[j + 2] * v2[a] * v2[a] +
                w[j + 3] * v3[a] * v3[a];
    }
  }
  for (; j < count; ++j) {
    const T* vj = v[j];
    for (int a = 0; a < n; ++a)
      axpy(w[j] * vj[a], vj + a, A + static_cast<int64_t>(a) * n + a, n - a);
  }
}

// Copies the upper triangle of a row-major n x n matrix into its lower triangle.
template <class T>
inline void mirror_upper(T* A, int n) {
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b)
      A[static_cast<int64_t>(b) * n + a] = A[static_cast<int64_t>(a) * n + b];
}

// A per-thread guard that does nothing (see gram).
struct NoThreadGuard {};

// G = YᵀY (k x k, both triangles). Every thread walks Y once, chunk by chunk, and accumulates
// the rows of G it owns (static round-robin ownership, the same for every chunk), so each entry
// is summed by one thread in one fixed order: the result does not depend on the thread count.
// Each thread of the region holds a ThreadGuard for its lifetime (NMF: FlushSubnormals); a team
// only from `min_flops` of work.
template <class ThreadGuard = NoThreadGuard, class T>
void gram(const DenseView<const T>& Y, T* G, int num_threads, double min_flops = kTeamMinFlops) {
  const int k = static_cast<int>(Y.cols);
  const int64_t n = Y.rows;
  constexpr int64_t kChunk = 256;  // rows of Y per pass, kept in cache; a multiple of 4
  for (int64_t i = 0; i < static_cast<int64_t>(k) * k; ++i) G[i] = T(0);
#pragma omp parallel num_threads(threads_for(double(n) * k * k, num_threads, min_flops))
  {
    const ThreadGuard guard{};
    (void)guard;
    for (int64_t start = 0; start < n; start += kChunk) {
      const int64_t end = std::min(n, start + kChunk);
#pragma omp for schedule(static, 1) nowait
      for (int a = 0; a < k; ++a) {
        T* acc = G + static_cast<int64_t>(a) * k;
        int64_t i = start;
        for (; i + 4 <= end; i += 4) {
          const T *y0 = Y.row(i), *y1 = Y.row(i + 1), *y2 = Y.row(i + 2), *y3 = Y.row(i + 3);
          const T s0 = y0[a], s1 = y1[a], s2 = y2[a], s3 = y3[a];
          for (int b = a; b < k; ++b) acc[b] += s0 * y0[b] + s1 * y1[b] + s2 * y2[b] + s3 * y3[b];
        }
        for (; i < end; ++i) {
          const T* y = Y.row(i);
          axpy(y[a], y + a, acc + a, k - a);
        }
      }
    }
  }
  mirror_upper(G, k);
}

// In-place Cholesky factorization A = UᵀU of a symmetric positive definite matrix whose upper
// triangle is stored row-major; U overwrites that upper triangle (the lower one is ignored).
// Right-looking form: every inner loop runs along a contiguous row. Returns false when A is not
// positive definite.
template <class T>
inline bool cholesky_upper(T* A, int n) {
  for (int j = 0; j < n; ++j) {
    T* row_j = A + static_cast<int64_t>(j) * n;
    const T pivot = row_j[j];
    if (!(pivot > T(0)) || !std::isfinite(pivot)) return false;
    const T d = std::sqrt(pivot);
    row_j[j] = d;
    const T inv = T(1) / d;
    for (int b = j + 1; b < n; ++b) row_j[b] *= inv;
    for (int a = j + 1; a < n; ++a) {
      const T s = row_j[a];
      T* row_a = A + static_cast<int64_t>(a) * n;
      for (int b = a; b < n; ++b) row_a[b] -= s * row_j[b];
    }
  }
  return true;
}

// Solves UᵀU x = b in place (b becomes x), U from cholesky_upper.
template <class T>
inline void cholesky_solve_upper(const T* U, T* b, int n) {
  for (int j = 0; j < n; ++j) {  // forward: Uᵀ z = b
    const T* row_j = U + static_cast<int64_t>(j) * n;
    b[j] /= row_j[j];
    const T z = b[j];
    for (int c = j + 1; c < n; ++c) b[c] -= row_j[c] * z;
  }
  for (int j = n - 1; j >= 0; --j) {  // backward: U x = z
    const T* row_j = U + static_cast<int64_t>(j) * n;
    b[j] = (b[j] - dot(row_j + j + 1, b + j + 1, n - j - 1)) / row_j[j];
  }
}

MFKIT_LEVEL_END
}  // namespace mfkit
