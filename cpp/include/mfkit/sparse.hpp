// General sparse (CSR) × dense products: the product of one row (the building block of the NMF
// sweeps), R D and Rᵀ D. Subnormals are flushed in every thread (fp_env.hpp).
//
// Checks of the sparse matrix (named X, the NMF data, in the messages): the O(rows) structure
// (indptr) is checked before any work; the O(nnz) entries (column index in range, value finite
// and >= 0) are checked by the passes that read them, as they read them: a bad entry is skipped
// (never dereferenced) and flagged, and the kernel throws std::invalid_argument once its parallel
// region is over (the factors being solved may then be partly updated). This saves a separate
// pass over X, a sizeable share of a sweep's memory traffic. They are the only checks of the
// arrays handed to these kernels directly (mfkit._cpp), so they are kept in every build.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "mfkit/level.hpp"
#include "mfkit/dense.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/fp_env.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

namespace sparse_detail {

template <class T>
void check_structure(const CsrView<T>& R) {
  require(R.rows >= 0 && R.cols >= 0 && R.cols <= INT32_MAX, "X: invalid shape");
  require(R.indptr != nullptr && R.indptr[0] == 0, "X: indptr[0] must be 0");
  int decreasing = 0;
  for (int64_t r = 0; r < R.rows; ++r) decreasing |= R.indptr[r] > R.indptr[r + 1] ? 1 : 0;
  require(decreasing == 0, "X: indptr must be non-decreasing");
}

constexpr int kBadIndex = 1;
constexpr int kBadValue = 2;

// Flags of one entry: 0 when its column is in [0, cols) and its value finite and >= 0.
template <class T>
inline int entry_flags(int32_t column, T value, uint32_t cols) {
  const bool value_ok = value >= T(0) && value <= std::numeric_limits<T>::max();
  return (static_cast<uint32_t>(column) >= cols ? kBadIndex : 0) | (value_ok ? 0 : kBadValue);
}

inline bool column_ok(int32_t column, uint32_t cols) {
  return static_cast<uint32_t>(column) < cols;
}

inline void raise_entry_flags(int flags) {
  require(!(flags & kBadIndex), "X: column index out of range");
  require(!(flags & kBadValue), "X must hold finite non-negative values");
}

// Accumulates the flags of a parallel region (each thread adds its own once).
class EntryFlags {
 public:
  void add(int flags) {
    if (!flags) return;
#pragma omp atomic
    flags_ |= flags;
  }
  void raise() const { raise_entry_flags(flags_); }

 private:
  int flags_ = 0;
};

// out = Σ_j x_j f_j over the stored entries of row r, each output summed in entry order.
// Columns go in chunks of 16 held in registers across the entries (one pass over the row's
// entries per chunk), instead of loading and storing `out` for every entry. The first pass
// prefetches whole factor rows kPrefetchAhead entries ahead in the flat index array, across the
// end of the row: most rows are shorter than the prefetch distance, and the next row's first
// entries would otherwise always miss.
template <class T>
inline int sparse_row_product(const CsrView<T>& R, int64_t r, const DenseView<const T>& F, T* out) {
  constexpr int kChunk = 16;
  const int k = static_cast<int>(F.cols);
  const uint32_t cols = static_cast<uint32_t>(R.cols);
  const int64_t begin = R.indptr[r], end = R.indptr[r + 1];
  const int64_t ahead_end = R.indptr[R.rows] - kPrefetchAhead;  // prefetch while e < this
  int flags = 0;
  int c = 0;
  for (; c + kChunk <= k; c += kChunk) {
    T acc[kChunk] = {};
    for (int64_t e = begin; e < end; ++e) {
      if (c == 0) {  // (prefetching a bad index is harmless: prefetches never fault)
        if (e < ahead_end) prefetch_row(F.row(R.indices[e + kPrefetchAhead]), k);
      } else if (e + kPrefetchAhead < end) {
        prefetch_row(F.row(R.indices[e + kPrefetchAhead]) + c, kChunk);
      }
      const int32_t column = R.indices[e];
      const T x = R.data[e];
      if (c == 0) flags |= entry_flags(column, x, cols);
      if (!column_ok(column, cols)) continue;
      const T* f = F.row(column) + c;
#pragma omp simd
      for (int j = 0; j < kChunk; ++j) acc[j] += x * f[j];
    }
    std::copy(acc, acc + kChunk, out + c);
  }
  if (c == k) return flags;
  std::fill(out + c, out + k, T(0));
  for (int64_t e = begin; e < end; ++e) {
    if (c == 0 && e < ahead_end) prefetch_row(F.row(R.indices[e + kPrefetchAhead]), k);
    const int32_t column = R.indices[e];
    if (c == 0) flags |= entry_flags(column, R.data[e], cols);
    if (column_ok(column, cols)) axpy(R.data[e], F.row(column) + c, out + c, k - c);
  }
  return flags;
}

// out = R D, rows in parallel; returns the entry flags.
template <class T>
int products(const CsrView<T>& R, const DenseView<const T>& D, T* out, int num_threads) {
  const int64_t p = D.cols;
  int flags = 0;
#pragma omp parallel num_threads( \
        threads_for(double(R.nnz()) * p * 2, num_threads, kSweepMinFlops)) reduction(| : flags)
  {
    const FlushSubnormals flush;
#pragma omp for schedule(dynamic, 64)
    for (int64_t r = 0; r < R.rows; ++r) flags |= sparse_row_product(R, r, D, out + r * p);
  }
  return flags;
}

}  // namespace sparse_detail

// out = R D (R.rows × D.cols) for a CSR matrix R and a dense D with one row per column of R.
template <class T>
void csr_matmul(const CsrView<T>& R, const DenseView<const T>& D, T* out, int num_threads) {
  const FlushSubnormals flush;
  require(R.cols == D.rows, "dense factor must have one row per column of the sparse matrix");
  sparse_detail::check_structure(R);
  // (any value sign is fine for a plain product)
  sparse_detail::raise_entry_flags(sparse_detail::products(R, D, out, num_threads) &
                                   sparse_detail::kBadIndex);
}

// out = Rᵀ D ((R.cols) x D.cols) for a CSR matrix R and a dense D with one row per row of R,
// by scattering each row of R: D is read sequentially and out written at random, the faster
// order when out is the smaller array. `column_ptr` (R.cols + 1 entries) are the cumulative
// entry counts of R's columns (the indptr of Rᵀ in CSR form): each thread owns a range of output
// rows holding about the same number of entries, and every output row is summed over R's rows in
// increasing order, exactly as the product over Rᵀ's rows computes it, whatever the threads.
template <class T>
void csr_transpose_matmul(const CsrView<T>& R, const int64_t* column_ptr,
                          const DenseView<const T>& D, T* out, int num_threads) {
  const FlushSubnormals flush;
  require(R.rows == D.rows, "dense factor must have one row per row of the sparse matrix");
  sparse_detail::check_structure(R);
  const int64_t nnz = R.nnz();
  require(column_ptr[0] == 0 && column_ptr[R.cols] == nnz,
          "column_ptr must hold the cumulative column counts of X");
  // Every index in range, and strictly increasing within each row (the ranges below rely on
  // it): every non-increasing step of the flat index array must then be a row start. One
  // vectorized pass over the indices plus one over the rows.
  const int32_t* idx = R.indices;
  const uint32_t cols = static_cast<uint32_t>(R.cols);
  int64_t steps_down = 0, row_starts_down = 0;
  int out_of_range = nnz > 0 && static_cast<uint32_t>(idx[0]) >= cols ? 1 : 0;
  for (int64_t e = 1; e < nnz; ++e) {
    steps_down += idx[e - 1] >= idx[e] ? 1 : 0;
    out_of_range |= static_cast<uint32_t>(idx[e]) >= cols ? 1 : 0;
  }
  require(out_of_range == 0, "X: column index out of range");
  for (int64_t r = 1; r < R.rows; ++r) {
    const int64_t e = R.indptr[r];
    if (e > 0 && e < R.indptr[r + 1] && idx[e - 1] >= idx[e]) ++row_starts_down;
  }
  require(steps_down == row_starts_down,
          "X must have sorted column indices without duplicates in every row");
  const int p = static_cast<int>(D.cols);
  std::fill(out, out + R.cols * p, T(0));
  const int threads = threads_for(double(nnz) * p * 2, num_threads, kSweepMinFlops);
  (void)threads;  // unused in a serial build
#pragma omp parallel num_threads(threads)
  {
    const FlushSubnormals flush;
#if defined(_OPENMP)
    const int team = omp_get_num_threads(), me = omp_get_thread_num();
#else
    const int team = 1, me = 0;
#endif
    // Output rows [lo, hi): the columns whose entries start in this thread's share of nnz.
    const auto boundary = [&](int part) {
      const int64_t target = nnz / team * part + std::min<int64_t>(part, nnz % team);
      return static_cast<int32_t>(std::lower_bound(column_ptr, column_ptr + R.cols + 1, target) -
                                  column_ptr);
    };
    const int32_t lo = me == 0 ? 0 : boundary(me);
    const int32_t hi = me == team - 1 ? static_cast<int32_t>(R.cols) : boundary(me + 1);
    for (int64_t r = 0; r < R.rows && lo < hi; ++r) {
      const int32_t* first = R.indices + R.indptr[r];
      const int32_t* last = R.indices + R.indptr[r + 1];
      if (lo > 0) first = std::lower_bound(first, last, lo);
      const T* d = D.row(r);
      for (const int32_t* it = first; it != last && *it < hi; ++it) {
        // Ahead in the flat index array (across row ends: rows are short), but only rows this
        // thread owns: touching another thread's output rows makes their cache lines bounce.
        if (it + kPrefetchAhead < idx + nnz) {
          const int32_t ahead = it[kPrefetchAhead];
          if (ahead >= lo && ahead < hi) prefetch_row(out + static_cast<int64_t>(ahead) * p, p);
        }
        T* o = out + static_cast<int64_t>(*it) * p;
        const T x = R.data[it - R.indices];
        int c = 0;
        for (; c + 16 <= p; c += 16) {
#pragma omp simd
          for (int j = 0; j < 16; ++j) o[c + j] += x * d[c + j];
        }
        for (; c < p; ++c) o[c] += x * d[c];
      }
    }
  }
}

MFKIT_LEVEL_END
}  // namespace mfkit
