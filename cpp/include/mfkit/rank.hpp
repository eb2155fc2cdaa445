// Ranking many queries against all targets, or against a candidate subset of them: scores and
// top-k selection fused per block of queries, so the queries x targets score matrix is never
// stored (serving's batch recommend and every `items=` subset).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "mfkit/dense.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/level.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/topk.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

namespace rank_detail {

// The fused loop. Column c of `columns` (d x n, transposed targets) scores target id
// target_ids[c] (c itself when target_ids is null); `column_of(id)` maps a target id back to
// its column, or -1 when it is not ranked (per-query exclusions name target ids);
// excluded_columns are dropped for every query.
template <class T, class ColumnOf>
void rank_columns(const DenseView<const T>& Q, const DenseView<const T>& columns,
                  const int32_t* target_ids, int k, const int64_t* exclude_indptr,
                  const int32_t* exclude_indices, const int32_t* excluded_columns,
                  int64_t n_excluded_columns, int32_t* ids, T* out, int num_threads,
                  ColumnOf column_of) {
  const int64_t n = columns.cols;
  const int d = static_cast<int>(Q.cols);
  // Queries per block: the 32-column panel of the targets is reused by all of them while it
  // sits in L1; their scores (kBlock x n) are selected while still in cache.
  constexpr int kBlock = 32;
  const int64_t blocks = (Q.rows + kBlock - 1) / kBlock;
  const T lowest = -std::numeric_limits<T>::infinity();
  ErrorCollector errors;
#pragma omp parallel num_threads(threads_for(2.0 * double(Q.rows) * n * d, num_threads))
  {
    errors.run([&] {
      std::vector<T> scores(static_cast<size_t>(std::min<int64_t>(kBlock, Q.rows)) * n);
      std::vector<Scored<T>> best;
#pragma omp for schedule(dynamic, 1)
      for (int64_t block = 0; block < blocks; ++block) {
        if (errors.failed()) continue;
        errors.run([&] {
          const int64_t first = block * kBlock;
          const int rows = static_cast<int>(std::min<int64_t>(kBlock, Q.rows - first));
          matmul_detail::panel_matmul(Q.row(first), Q.cols, columns.ptr, n, scores.data(), n, rows,
                                      d, n);
          for (int r = 0; r < rows; ++r) {
            T* row = scores.data() + static_cast<int64_t>(r) * n;
            for (int64_t e = 0; e < n_excluded_columns; ++e) row[excluded_columns[e]] = lowest;
            if (exclude_indptr != nullptr)
              for (int64_t e = exclude_indptr[first + r]; e < exclude_indptr[first + r + 1]; ++e) {
                const int64_t column = column_of(exclude_indices[e]);
                if (column >= 0) row[column] = lowest;
              }
            top_k_row(row, n, k, best);
            int32_t* row_ids = ids + (first + r) * k;
            T* row_out = out + (first + r) * k;
            const int found = static_cast<int>(best.size());
            for (int j = 0; j < found; ++j) {
              row_ids[j] = target_ids == nullptr ? best[j].id : target_ids[best[j].id];
              row_out[j] = best[j].score;
            }
            for (int j = found; j < k; ++j) row_ids[j] = -1, row_out[j] = lowest;
          }
        });
      }
    });
  }
  errors.rethrow();
}

// What rank_rows and rank_candidates require of their arguments.
inline void check_arguments(int k, int64_t query_factors, int64_t target_factors,
                            int64_t n_targets) {
  require(k >= 0, "k must be >= 0");
  require(query_factors == target_factors,
          "queries and targets must have the same number of factors");
  require(n_targets < (int64_t(1) << 31), "too many targets for int32 ids");
}

}  // namespace rank_detail

// For every row q of Q (m x d): the k best targets by qᵀt, with targets given transposed
// (targets_t: d x n, so the score panels read contiguous rows), best first, ties by lower id,
// into ids / out (m x k, padded with -1 / -inf). Before selection, row r drops the targets
// exclude_indices[exclude_indptr[r] .. exclude_indptr[r + 1]) (when exclude_indptr is not
// null) and every target in excluded_all. Scores are summed over d in order (panel_matmul), so
// results do not depend on the thread count or on which block a query falls in.
template <class T>
void rank_rows(const DenseView<const T>& Q, const DenseView<const T>& targets_t, int k,
               const int64_t* exclude_indptr, const int32_t* exclude_indices,
               const int32_t* excluded_all, int64_t n_excluded_all, int32_t* ids, T* out,
               int num_threads) {
  rank_detail::check_arguments(k, Q.cols, targets_t.rows, targets_t.cols);
  rank_detail::rank_columns(Q, targets_t, nullptr, k, exclude_indptr, exclude_indices, excluded_all,
                            n_excluded_all, ids, out, num_threads,
                            [](int32_t id) { return int64_t(id); });
}

// rank_rows restricted to the targets listed in `candidates` (strictly increasing ids, so ties
// still go to the lower id), with targets given as rows (n x d). The candidates' factors are
// first copied, transposed, into a d x candidates buffer that every block of queries reads;
// exclusions name target ids and are ignored where they are not candidates.
template <class T>
void rank_candidates(const DenseView<const T>& Q, const DenseView<const T>& targets,
                     const int32_t* candidates, int64_t n_candidates, int k,
                     const int64_t* exclude_indptr, const int32_t* exclude_indices,
                     const int32_t* excluded_all, int64_t n_excluded_all, int32_t* ids, T* out,
                     int num_threads) {
  rank_detail::check_arguments(k, Q.cols, targets.cols, targets.rows);
  const int64_t d = targets.cols;
  std::vector<T> buffer(static_cast<size_t>(d * n_candidates));
  // Sixteen candidates at a time: their rows stay in L1 while the buffer is written row by row.
  constexpr int64_t kGather = 16;
#pragma omp parallel for schedule(static) \
    num_threads(threads_for(double(Q.rows) * n_candidates * d, num_threads))
  for (int64_t c0 = 0; c0 < n_candidates; c0 += kGather) {
    const int64_t c1 = std::min(c0 + kGather, n_candidates);
    for (int64_t a = 0; a < d; ++a)
      for (int64_t c = c0; c < c1; ++c)
        buffer[a * n_candidates + c] = targets.row(candidates[c])[a];
  }
  // Column of every target id in the buffer, -1 for targets that are not candidates.
  std::vector<int32_t> column(static_cast<size_t>(targets.rows), -1);
  for (int64_t c = 0; c < n_candidates; ++c) column[candidates[c]] = static_cast<int32_t>(c);
  const auto column_of = [&column](int32_t id) -> int64_t { return column[id]; };
  std::vector<int32_t> excluded_columns;
  for (int64_t e = 0; e < n_excluded_all; ++e) {
    const int64_t at = column_of(excluded_all[e]);
    if (at >= 0) excluded_columns.push_back(static_cast<int32_t>(at));
  }
  const DenseView<const T> columns{d, n_candidates, buffer.data()};
  rank_detail::rank_columns(Q, columns, candidates, k, exclude_indptr, exclude_indices,
                            excluded_columns.data(), static_cast<int64_t>(excluded_columns.size()),
                            ids, out, num_threads, column_of);
}

MFKIT_LEVEL_END
}  // namespace mfkit
