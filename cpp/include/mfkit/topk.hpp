// Top-k selection per row of a dense score matrix, by partial selection (never a full sort).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "mfkit/level.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

template <class T>
struct Scored {
  T score;
  int32_t id;
};

// Strict order used everywhere: higher score first, then the lower id (deterministic ties).
template <class T>
inline bool ranks_before(const Scored<T>& a, const Scored<T>& b) {
  return a.score > b.score || (a.score == b.score && a.id < b.id);
}

// The k best entries of one row, best first, into `best` (resized to at most k). Entries that are
// -inf or NaN never qualify: callers mark filtered items with -inf.
template <class T>
void top_k_row(const T* scores, int64_t cols, int k, std::vector<Scored<T>>& best) {
  best.clear();
  if (k <= 0) return;
  const T lowest = -std::numeric_limits<T>::infinity();
  if (static_cast<int64_t>(k) * 8 >= cols) {
    // k is a large share of the row: nth_element over the qualifying entries.
    for (int64_t c = 0; c < cols; ++c)
      if (scores[c] > lowest) best.push_back({scores[c], static_cast<int32_t>(c)});
    if (static_cast<int64_t>(best.size()) > k) {
      std::nth_element(best.begin(), best.begin() + k, best.end(), ranks_before<T>);
      best.resize(k);
    }
  } else {
    // Buffered selection: keep every entry that beats the current threshold (the worst score
    // among the k best kept so far); when the buffer is full (k + max(k, 16) entries), cut it
    // back to the best k with nth_element and raise the threshold. Ids arrive in increasing order,
    // so an entry that merely equals the threshold never displaces a kept one. O(cols + k log(cols
    // / k)).
    const int64_t capacity = static_cast<int64_t>(k) + std::max(k, 16);
    T threshold = lowest;
    const auto cut = [&] {
      std::nth_element(best.begin(), best.begin() + (k - 1), best.end(), ranks_before<T>);
      best.resize(k);
      threshold = best[k - 1].score;  // the k-th best: the worst kept
    };
    const auto consider = [&](int64_t column) {
      if (!(scores[column] > threshold)) return;
      best.push_back({scores[column], static_cast<int32_t>(column)});
      if (static_cast<int64_t>(best.size()) == capacity) cut();
    };
    // Most entries lose to the threshold once it has risen: test blocks of them with one
    // vectorized count and look at single entries only in blocks that hold a candidate.
    constexpr int kBlock = 32;
    int64_t c = 0;
    for (; c + kBlock <= cols; c += kBlock) {
      int beats = 0;
      for (int j = 0; j < kBlock; ++j) beats += scores[c + j] > threshold;
      if (beats)
        for (int j = 0; j < kBlock; ++j) consider(c + j);
    }
    for (; c < cols; ++c) consider(c);
    if (static_cast<int64_t>(best.size()) > k) cut();
  }
  std::sort(best.begin(), best.end(), ranks_before<T>);
}

// Sets scores[r][c] = -inf for the columns c listed for row r in CSR form (indptr / indices):
// the items a user already has. Rejects out-of-range columns.
template <class T>
void exclude_columns(T* scores, int64_t rows, int64_t cols, const int64_t* indptr,
                     const int32_t* indices) {
  const T lowest = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    require(indptr[r] <= indptr[r + 1], "exclude_indptr must never decrease");
    for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) {
      require(indices[e] >= 0 && indices[e] < cols, "exclude_indices out of range");
      scores[r * cols + indices[e]] = lowest;
    }
  }
}

// For each row of `scores` (rows x cols, row-major): the k best column ids and scores, best
// first, written to ids/out (rows x k). Rows with fewer than k qualifying entries are padded
// with id -1 and score -inf. Parallel over rows.
template <class T>
void top_k_rows(const T* scores, int64_t rows, int64_t cols, int k, int32_t* ids, T* out,
                int num_threads) {
  require(k >= 0, "k must be >= 0");
  require(cols < (int64_t(1) << 31), "too many columns for int32 ids");
  ErrorCollector errors;
#pragma omp parallel num_threads(threads_for(double(rows) * cols, num_threads))
  {
    errors.run([&] {
      std::vector<Scored<T>> best;
      best.reserve(static_cast<size_t>(std::min<int64_t>(k, cols) + std::max(k, 16)));
#pragma omp for schedule(dynamic, 16)
      for (int64_t r = 0; r < rows; ++r) {
        top_k_row(scores + r * cols, cols, k, best);
        int32_t* row_ids = ids + r * k;
        T* row_out = out + r * k;
        const int found = static_cast<int>(best.size());
        for (int j = 0; j < found; ++j) {
          row_ids[j] = best[j].id;
          row_out[j] = best[j].score;
        }
        for (int j = found; j < k; ++j) {
          row_ids[j] = -1;
          row_out[j] = -std::numeric_limits<T>::infinity();
        }
      }
    });
  }
  errors.rethrow();
}

MFKIT_LEVEL_END
}  // namespace mfkit
