// Ranking many queries against all targets: scores and top-k selection fused per block of
// queries, so the queries x targets score matrix is never stored (serving's batch recommend).
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

// For every row q of Q (m x d): the k best targets by qᵀt, with targets given transposed
// (targets_t: d x n, so the score panels read contiguous rows), best first, ties by lower id,
// into ids / out (m x k, padded with -1 / -inf). Before selection, row r drops the columns
// exclude_indices[exclude_indptr[r] .. exclude_indptr[r + 1]) (when exclude_indptr is not
// null) and every column in excluded_all. Scores are summed over d in order (panel_matmul), so
// results do not depend on the thread count or on which block a query falls in.
template <class T>
void rank_rows(const DenseView<const T>& Q, const DenseView<const T>& targets_t, int k,
               const int64_t* exclude_indptr, const int32_t* exclude_indices,
               const int32_t* excluded_all, int64_t n_excluded_all, int32_t* ids, T* out,
               int num_threads) {
  require(k >= 0, "k must be >= 0");
  require(Q.cols == targets_t.rows, "queries and targets must have the same number of factors");
  const int64_t n = targets_t.cols;
  require(n < (int64_t(1) << 31), "too many targets for int32 ids");
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
          matmul_detail::panel_matmul(Q.row(first), Q.cols, targets_t.ptr, n, scores.data(), n,
                                      rows, d, n);
          for (int r = 0; r < rows; ++r) {
            T* row = scores.data() + static_cast<int64_t>(r) * n;
            for (int64_t e = 0; e < n_excluded_all; ++e) row[excluded_all[e]] = lowest;
            if (exclude_indptr != nullptr)
              for (int64_t e = exclude_indptr[first + r]; e < exclude_indptr[first + r + 1]; ++e)
                row[exclude_indices[e]] = lowest;
            top_k_row(row, n, k, best);
            int32_t* row_ids = ids + (first + r) * k;
            T* row_out = out + (first + r) * k;
            const int found = static_cast<int>(best.size());
            for (int j = 0; j < found; ++j) row_ids[j] = best[j].id, row_out[j] = best[j].score;
            for (int j = found; j < k; ++j) row_ids[j] = -1, row_out[j] = lowest;
          }
        });
      }
    });
  }
  errors.rethrow();
}

MFKIT_LEVEL_END
}  // namespace mfkit
