// Ranking metrics with binary relevance, per user, from a dense block of scores.
//
// For the user of row r, with scores s, train items Tr and test items of the CSR rows:
//   C  = candidates = all items not in Tr (train items are never recommended),
//   Te = relevant items = test items in C (a test item that is also in Tr cannot be ranked),
//   L  = the K best items of C by score, ties by the lower id (top_k_row), rel_k = [L_k ∈ Te].
// Then (column order of the output):
//   0 precision = |L∩Te| / K
//   1 recall    = |L∩Te| / |Te|
//   2 ap        = Σ_{k=1..K} P@k · rel_k / min(K, |Te|)            (P@k = |L_1..k ∩ Te| / k)
//   3 ndcg      = DCG / IDCG,  DCG = Σ_{k=1..K} rel_k / log2(k+1),
//                 IDCG = Σ_{k=1..min(K,|Te|)} 1 / log2(k+1)          (the DCG of an ideal list)
//   4 hit_rate  = [|L∩Te| > 0]
//   5 mrr       = 1 / rank of the first relevant item of L, 0 if none
//   6 auc       = (#{(i,j): s_i > s_j} + ½ #{(i,j): s_i = s_j}) / (|Te| · |C \ Te|)
//                 over i ∈ Te, j ∈ C \ Te: all candidates, not truncated at K
// A user with Te empty gets NaN in every column; one with C \ Te empty gets NaN as auc only.
// Candidate scores of -inf never enter L (as in top_k_row) but do count in auc; NaN candidate
// scores are an error. Stored values of train/test are ignored: every stored entry counts.
// Masked entries are NaN internally, so this must not be compiled with -ffast-math.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "mfkit/level.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/topk.hpp"
#include "mfkit/views.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

// Output columns of ranking_metrics, one row of doubles per user.
enum RankingMetric : int {
  kPrecision = 0,
  kRecall,
  kAveragePrecision,
  kNdcg,
  kHitRate,
  kReciprocalRank,
  kAuc,
  kRankingMetricCount
};

namespace detail {

// Per-item role while one user is evaluated; reset to kOther after the user.
enum ItemRole : uint8_t { kOther = 0, kTrain = 1, kRelevant = 2 };

template <class T>
struct MetricsWorkspace {
  std::vector<T> row;              // the user's scores, train items set to NaN
  std::vector<uint8_t> role;       // ItemRole per item
  std::vector<Scored<T>> best;     // L, best first
  std::vector<T> relevant_scores;  // scores of Te (for auc)
};

// Marks Tr then Te (= test \ Tr) in `role`; counts distinct entries (rows may hold duplicates).
template <class S>
void mark_items(const CsrView<S>& train, const CsrView<S>& test, int64_t r,
                std::vector<uint8_t>& role, int64_t& n_train, int64_t& n_relevant) {
  n_train = n_relevant = 0;
  for (int64_t e = train.indptr[r]; e < train.indptr[r + 1]; ++e) {
    uint8_t& item = role[train.indices[e]];
    n_train += item != kTrain;
    item = kTrain;
  }
  for (int64_t e = test.indptr[r]; e < test.indptr[r + 1]; ++e) {
    uint8_t& item = role[test.indices[e]];
    if (item != kOther) continue;
    item = kRelevant;
    ++n_relevant;
  }
}

template <class S>
void unmark_items(const CsrView<S>& train, const CsrView<S>& test, int64_t r,
                  std::vector<uint8_t>& role) {
  for (int64_t e = train.indptr[r]; e < train.indptr[r + 1]; ++e) role[train.indices[e]] = kOther;
  for (int64_t e = test.indptr[r]; e < test.indptr[r + 1]; ++e) role[test.indices[e]] = kOther;
}

// The user's scores with the train items masked by NaN (never selected by top_k_row, never
// < or = to anything); a NaN among the candidates' own scores is an error.
template <class T>
void masked_row(const T* scores, int64_t cols, const std::vector<uint8_t>& role,
                std::vector<T>& row) {
  const T masked = std::numeric_limits<T>::quiet_NaN();
  bool has_nan = false;
  for (int64_t c = 0; c < cols; ++c) {
    const bool train = role[c] == kTrain;
    row[c] = train ? masked : scores[c];
    has_nan = has_nan || (!train && std::isnan(scores[c]));
  }
  require(!has_nan, "scores contain NaN (are the factors finite?)");
}

// Columns 0-5 from the ranked list L (best first), formulas in the header comment.
template <class T>
void list_metrics(const std::vector<Scored<T>>& best, const std::vector<uint8_t>& role, int k,
                  int64_t n_relevant, double* out) {
  int64_t hits = 0;
  double precision_sum = 0, dcg = 0, reciprocal_rank = 0;
  for (size_t j = 0; j < best.size(); ++j) {
    if (role[best[j].id] != kRelevant) continue;
    const double rank = double(j + 1);
    ++hits;
    precision_sum += double(hits) / rank;  // P@k · rel_k
    dcg += 1.0 / std::log2(rank + 1.0);
    if (hits == 1) reciprocal_rank = 1.0 / rank;
  }
  const int64_t ideal = std::min<int64_t>(k, n_relevant);
  double idcg = 0;
  for (int64_t j = 1; j <= ideal; ++j) idcg += 1.0 / std::log2(double(j) + 1.0);
  out[kPrecision] = double(hits) / double(k);
  out[kRecall] = double(hits) / double(n_relevant);
  out[kAveragePrecision] = precision_sum / double(ideal);
  out[kNdcg] = dcg / idcg;
  out[kHitRate] = hits > 0 ? 1.0 : 0.0;
  out[kReciprocalRank] = reciprocal_rank;
}

// Leading entries of the ascending a[0..n) for which before(a[i]) holds. Branch-free binary
// search: comparisons of scores are unpredictable, a mispredicted branch costs more than a step.
template <class T, class Before>
int64_t count_leading(const T* a, int64_t n, Before before) {
  if (n == 0) return 0;
  const T* base = a;
  while (n > 1) {
    const int64_t half = n / 2;
    base = before(base[half]) ? base + half : base;
    n -= half;
  }
  return (base - a) + (before(*base) ? 1 : 0);
}

// Relevant items up to which auc counts with one pass per relevant item (vectorized), rather
// than searching every negative among the sorted relevant scores.
constexpr size_t kAucCountingMax = 32;

// Σ_i 2·#{j: s_j < s_i} + #{j: s_j = s_i} over the relevant scores s_i, counting all entries of
// `negatives` (NaN entries compare false: they count for nothing). O(|Te| · n).
template <class T>
int64_t twice_correct_by_counting(const T* negatives, int64_t cols,
                                  const std::vector<T>& relevant) {
  int64_t total = 0;
  for (const T x : relevant) {
    int64_t below = 0, equal = 0;
    for (int64_t c = 0; c < cols; ++c) {
      below += negatives[c] < x;
      equal += negatives[c] == x;
    }
    total += 2 * below + equal;
  }
  return total;
}

// The same sum by searching each negative s_j among the sorted relevant scores:
// 2·#{i: s_i > s_j} + #{i: s_i = s_j} per negative. O(n log |Te|).
template <class T>
int64_t twice_correct_by_search(const T* negatives, int64_t cols, std::vector<T>& relevant) {
  std::sort(relevant.begin(), relevant.end());
  const T* sorted = relevant.data();
  const int64_t n = static_cast<int64_t>(relevant.size());
  int64_t total = 0;
  for (int64_t c = 0; c < cols; ++c) {
    const T s = negatives[c];
    if (std::isnan(s)) continue;
    const int64_t below = count_leading(sorted, n, [s](T x) { return x < s; });
    int64_t not_above = below;
    if (below < n && sorted[below] == s)  // ties are rare: search again only for them
      not_above = count_leading(sorted, n, [s](T x) { return x <= s; });
    total += 2 * (n - not_above) + (not_above - below);
  }
  return total;
}

// AUC = Σ_{i ∈ Te, j ∈ N} ([s_i > s_j] + ½ [s_i = s_j]) / (|Te| · |N|), N = C \ Te, computed
// from `row` (train items already NaN), whose relevant entries are set to NaN here.
template <class T>
double auc(std::vector<T>& row, const std::vector<uint8_t>& role, int64_t n_negative,
           std::vector<T>& relevant_scores) {
  if (n_negative == 0) return std::numeric_limits<double>::quiet_NaN();
  relevant_scores.clear();
  const int64_t cols = static_cast<int64_t>(row.size());
  for (int64_t c = 0; c < cols; ++c) {
    if (role[c] != kRelevant) continue;
    relevant_scores.push_back(row[c]);
    row[c] = std::numeric_limits<T>::quiet_NaN();
  }
  const int64_t twice_correct = relevant_scores.size() <= kAucCountingMax
                                    ? twice_correct_by_counting(row.data(), cols, relevant_scores)
                                    : twice_correct_by_search(row.data(), cols, relevant_scores);
  return double(twice_correct) / (2.0 * double(relevant_scores.size()) * double(n_negative));
}

}  // namespace detail

// The metrics of every row of `scores` (users x items) into out (rows x kRankingMetricCount,
// row-major), with the train and test rows of the same users (values ignored). Parallel over
// users; each user's values depend on nothing else, so results do not depend on num_threads.
template <class T, class S>
void ranking_metrics(const DenseView<const T>& scores, const CsrView<S>& train,
                     const CsrView<S>& test, int k, double* out, int num_threads) {
  require(k >= 1, "K must be >= 1");
  require(scores.cols < (int64_t(1) << 31), "too many items for int32 ids");
  require(train.rows == scores.rows && train.cols == scores.cols,
          "train must have the shape of scores");
  require(test.rows == scores.rows && test.cols == scores.cols,
          "test must have the shape of scores");
  train.validate("train");
  test.validate("test");
  const int64_t cols = scores.cols;
  ErrorCollector errors;
#pragma omp parallel num_threads(threads_for(double(scores.rows) * double(cols), num_threads))
  {
    errors.run([&] {
      detail::MetricsWorkspace<T> ws;
      ws.row.resize(static_cast<size_t>(cols));
      ws.role.assign(static_cast<size_t>(cols), detail::kOther);
      ws.best.reserve(static_cast<size_t>(std::min<int64_t>(k, cols)) + 1);
#pragma omp for schedule(dynamic, 16)
      for (int64_t r = 0; r < scores.rows; ++r) {
        if (errors.failed()) continue;
        errors.run([&] {
          double* row_out = out + r * kRankingMetricCount;
          int64_t n_train = 0, n_relevant = 0;
          detail::mark_items(train, test, r, ws.role, n_train, n_relevant);
          if (n_relevant == 0) {
            std::fill(row_out, row_out + kRankingMetricCount,
                      std::numeric_limits<double>::quiet_NaN());
          } else {
            const T* user_scores = scores.row(r);
            detail::masked_row(user_scores, cols, ws.role, ws.row);
            top_k_row(ws.row.data(), cols, k, ws.best);
            detail::list_metrics(ws.best, ws.role, k, n_relevant, row_out);
            row_out[kAuc] =
                detail::auc(ws.row, ws.role, cols - n_train - n_relevant, ws.relevant_scores);
          }
          detail::unmark_items(train, test, r, ws.role);
        });
      }
    });
  }
  errors.rethrow();
}

MFKIT_LEVEL_END
}  // namespace mfkit
