// Small dense kernels on raw pointers, written so that the compiler vectorizes them without
// -ffast-math. Reductions use a fixed number of independent accumulators and a fixed final
// order, so a result depends only on its inputs (never on the thread that computes it).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/views.hpp"

namespace mfkit {

constexpr int kLanes = 16;  // independent partial sums in reductions

template <class T>
inline T dot(const T* a, const T* b, int n) {
  T acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  for (int j = 0; i + j < n; ++j) acc[j] += a[i + j] * b[i + j];
  // Pairwise (tree) reduction of the lanes: short dependency chains, fixed order.
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) acc[j] += acc[j + width];
  return acc[0];
}

// y += s * x
template <class T>
inline void axpy(T s, const T* x, T* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += s * x[i];
}

// y = A x for a symmetric row-major n x n matrix A with both triangles stored, computed as
// y = Σ_a x_a A_a (rows of A, four at a time): no horizontal reductions, contiguous loads.
template <class T>
inline void symmetric_matvec(const T* A, const T* x, T* y, int n) {
  for (int b = 0; b < n; ++b) y[b] = T(0);
  int a = 0;
  for (; a + 4 <= n; a += 4) {
    const T* r0 = A + static_cast<int64_t>(a) * n;
    const T *r1 = r0 + n, *r2 = r1 + n, *r3 = r2 + n;
    const T x0 = x[a], x1 = x[a + 1], x2 = x[a + 2], x3 = x[a + 3];
    for (int b = 0; b < n; ++b) y[b] += x0 * r0[b] + x1 * r1[b] + x2 * r2[b] + x3 * r3[b];
  }
  for (; a < n; ++a) axpy(x[a], A + static_cast<int64_t>(a) * n, y, n);
}

// Upper triangle of A (row-major n x n) += sum_j w[j] * v_j v_jᵀ over `count` vectors.
// Four vectors per pass, so each element of A is loaded and stored once per four updates.
template <class T>
inline void add_weighted_outer_products(T* A, int n, const T* const* v, const T* w, int count) {
  int j = 0;
  for (; j + 4 <= count; j += 4) {
    const T *v0 = v[j], *v1 = v[j + 1], *v2 = v[j + 2], *v3 = v[j + 3];
    for (int a = 0; a < n; ++a) {
      const T s0 = w[j] * v0[a], s1 = w[j + 1] * v1[a];
      const T s2 = w[j + 2] * v2[a], s3 = w[j + 3] * v3[a];
      T* row = A + static_cast<int64_t>(a) * n;
      for (int b = a; b < n; ++b) row[b] += s0 * v0[b] + s1 * v1[b] + s2 * v2[b] + s3 * v3[b];
    }
  }
  for (; j < count; ++j) {
    const T* vj = v[j];
    for (int a = 0; a < n; ++a) {
      const T s = w[j] * vj[a];
      T* row = A + static_cast<int64_t>(a) * n;
      for (int b = a; b < n; ++b) row[b] += s * vj[b];
    }
  }
}

// Copies the upper triangle of a row-major n x n matrix into its lower triangle.
template <class T>
inline void mirror_upper(T* A, int n) {
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) A[static_cast<int64_t>(b) * n + a] = A[static_cast<int64_t>(a) * n + b];
}

// G = YᵀY (k x k, both triangles). Parallel over rows of G so that each entry is summed by
// one thread in a fixed order: the result does not depend on the thread count.
template <class T>
void gram(const DenseView<const T>& Y, T* G, int num_threads) {
  const int k = static_cast<int>(Y.cols);
  const int64_t n = Y.rows;
  ErrorCollector errors;
#pragma omp parallel for schedule(dynamic, 1) num_threads(clamp_threads(num_threads))
  for (int a = 0; a < k; ++a) {
    errors.run([&] {
      // Row a of G, columns a..k-1, accumulated over items in blocks of four.
      std::vector<T> acc(k, T(0));
      int64_t i = 0;
      for (; i + 4 <= n; i += 4) {
        const T *y0 = Y.row(i), *y1 = Y.row(i + 1), *y2 = Y.row(i + 2), *y3 = Y.row(i + 3);
        const T s0 = y0[a], s1 = y1[a], s2 = y2[a], s3 = y3[a];
        for (int b = a; b < k; ++b) acc[b] += s0 * y0[b] + s1 * y1[b] + s2 * y2[b] + s3 * y3[b];
      }
      for (; i < n; ++i) {
        const T* y = Y.row(i);
        const T s = y[a];
        for (int b = a; b < k; ++b) acc[b] += s * y[b];
      }
      for (int b = a; b < k; ++b) G[static_cast<int64_t>(a) * k + b] = acc[b];
    });
  }
  errors.rethrow();
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

}  // namespace mfkit
