// Bayesian Personalized Ranking (Rendle, Freudenthaler, Gantner & Schmidt-Thieme, UAI 2009).
//
// Score of item i for user u: x_u·y_i + b_i. For a user u, an item i the user has (a positive)
// and an item j they do not have (a negative), x_uij = x_u·(y_i − y_j) + b_i − b_j, and LearnBPR
// (the paper's Fig. 4) climbs  ln σ(x_uij) − (λ/2)(‖x_u‖² + ‖y_i‖² + ‖y_j‖² + b_i² + b_j²)  by
// stochastic gradient steps on sampled triples. With g = σ(−x_uij) = 1 / (1 + e^{x_uij}):
//   x_u ← x_u + η (g (y_i − y_j) − λ x_u)
//   y_i ← y_i + η (g x_u − λ y_i)            b_i ← b_i + η (g − λ b_i)
//   y_j ← y_j + η (−g x_u − λ y_j)           b_j ← b_j + η (−g − λ b_j)
// every right-hand side evaluated at the old values.
//
// Sampling. An epoch draws as many triples as there are positives (stored entries), split into
// `num_threads` chunks; chunk t has three xoshiro256** generators seeded from
// stream_seed(seed, 3t + 0|1|2):
//   P  the positive: a stored entry drawn uniformly gives (u, i) (LearnBPR's uniform draw from
//      the observed pairs, so users are drawn in proportion to their activity);
//   N  the first negative candidate: a uniform item, or (popularity) the item of a uniformly
//      drawn stored entry, i.e. an item drawn in proportion to its number of positives;
//   R  further candidates after rejections.
// One generator per role means that the sampler can run ahead of the updates (to prefetch the
// factor rows) without changing which triples are drawn. With `verify_negatives`, a candidate
// the user has is rejected and another drawn, up to kMaxNegativeDraws candidates; after that the
// uniform sampler draws the negative exactly from the items the user does not have (so it never
// skips unless the user has every item), and the popularity sampler skips the sample (counted).
// Whether the user has an item is answered by a small Bloom filter of the positives when one is
// given (most candidates are ruled out by one 64-bit word) and by a binary search of the user's
// sorted row otherwise: the answer, hence every result, is the same either way.
//
// Parallelism: chunks run concurrently without locks (Hogwild: Niu, Recht, Ré & Wright, NIPS
// 2011); updates of rows shared by two threads may interleave. Small epochs run their chunks one
// after the other on one thread, so results are reproducible whenever one thread runs, and
// always bitwise reproducible with num_threads = 1.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
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

enum class NegativeSampling { Uniform, Popularity };

template <class T>
struct BprOptions {
  // How negatives are drawn (see "Sampling" above),
  NegativeSampling sampling = NegativeSampling::Uniform;
  bool verify_negatives = true;
  // and the SGD step.
  T learning_rate = T(0.05);
  T regularization = T(0.005);
  int num_threads = 1;
};

// Counters of one epoch (or of a sampling / update call).
struct BprStats {
  int64_t samples = 0;   // triples requested
  int64_t updates = 0;   // SGD steps taken
  int64_t ranked = 0;    // 2·#(x_uij > 0) + #(x_uij = 0) over the steps (AUC numerator, doubled)
  int64_t draws = 0;     // negative candidates drawn
  int64_t rejected = 0;  // candidates rejected because the user has them
  int64_t skipped = 0;   // samples left without a negative after the bounded draws
  bool finite = true;    // false: a non-finite score was met (diverged) and the work stopped

  BprStats& operator+=(const BprStats& o) {
    samples += o.samples;
    updates += o.updates;
    ranked += o.ranked;
    draws += o.draws;
    rejected += o.rejected;
    skipped += o.skipped;
    finite = finite && o.finite;
    return *this;
  }
};

// The positives, users × items: CSR structure (values are not needed) with the indices sorted
// and unique within each row, plus the row of every stored entry.
struct BprPositives {
  int64_t rows = 0;
  int64_t cols = 0;
  const int64_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  const int32_t* entry_rows = nullptr;  // may be null where only rows are read (fold-in)
  // Optional membership filter of the (row, column) pairs (bpr_membership_filter): answers
  // "certainly absent" for most pairs from one 64-bit word, so that the exact binary search of
  // the row is needed only for the few pairs it cannot rule out. Null: always search.
  const uint64_t* filter = nullptr;
  int64_t filter_words = 0;

  int64_t nnz() const { return rows > 0 ? indptr[rows] : 0; }

  // O(rows + nnz) check, so that bad input is an error and never a wild read.
  void validate(const char* name, bool need_entry_rows) const {
    const std::string n(name);
    require(rows >= 0 && rows <= INT32_MAX && cols >= 0 && cols <= INT32_MAX,
            n + ": shape out of range");
    require(indptr != nullptr && indptr[0] == 0, n + ": indptr[0] must be 0");
    bool ok = true;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t begin = indptr[r], end = indptr[r + 1];
      ok = ok && begin <= end;
      if (!ok) break;
      for (int64_t e = begin; e < end; ++e) {
        ok = ok && indices[e] >= 0 && indices[e] < cols &&
             (e == begin || indices[e - 1] < indices[e]);
        if (need_entry_rows) ok = ok && entry_rows[e] == r;
      }
      if (!ok) break;
    }
    require(ok,
            n +
                ": malformed (indptr must not decrease, column indices must be in range and "
                "strictly increasing within each row" +
                std::string(need_entry_rows ? ", entry_rows must give each entry's row)" : ")"));
    require(filter == nullptr || (filter_words == std::max<int64_t>(1, (nnz() + 3) / 4) &&
                                  filter_words <= (int64_t(1) << 32)),
            n + ": the membership filter does not match the matrix (rebuild it)");
  }
};

namespace detail {

constexpr int kMaxNegativeDraws = 32;
constexpr int kStageDistance = 4;  // samples between the sampler's pipeline stages
constexpr int kRingSize = 32;      // holds the 4·kStageDistance + 1 samples in flight
static_assert(kRingSize >= 4 * kStageDistance + 1, "ring too small for the pipeline");
static_assert((kRingSize & (kRingSize - 1)) == 0, "ring size must be a power of two");
constexpr int64_t kStopCheckEvery = 1024;  // samples between looks at the other threads' stop flag

template <class P>
inline void prefetch_bytes(const P* p, int64_t count, bool write) {
#if defined(__GNUC__) || defined(__clang__)
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(63);
  const uintptr_t last = reinterpret_cast<uintptr_t>(p + count) - 1;
  for (uintptr_t a = first; a <= last; a += 64) {
    if (write)
      __builtin_prefetch(reinterpret_cast<const void*>(a), 1);
    else
      __builtin_prefetch(reinterpret_cast<const void*>(a), 0);
  }
#else
  (void)p;
  (void)count;
  (void)write;
#endif
}

// First and one-past-last sample of chunk t when n samples are split into `chunks` parts.
inline int64_t chunk_begin(int64_t n, int64_t chunks, int64_t t) {
  return (n / chunks) * t + std::min<int64_t>(t, n % chunks);
}

// Whether the sorted row holds item j.
inline bool row_contains(const int32_t* row, int64_t n, int32_t j) {
  return std::binary_search(row, row + n, j);
}

// Membership filter: a Bloom filter (Bloom, CACM 1970) blocked into 64-bit words (one word per
// pair, three bits in it), 16 bits per stored pair, so about 1% false "maybe" answers.
inline uint64_t filter_hash(int64_t row, int32_t column) {
  uint64_t z = (static_cast<uint64_t>(row) << 32) ^ static_cast<uint32_t>(column);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;  // the SplitMix64 finalizer
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
inline int64_t filter_word(uint64_t h, int64_t words) {
  return static_cast<int64_t>(((h >> 32) * static_cast<uint64_t>(words)) >> 32);
}
inline uint64_t filter_bits(uint64_t h) {
  return (uint64_t(1) << (h & 63)) | (uint64_t(1) << ((h >> 6) & 63)) |
         (uint64_t(1) << ((h >> 12) & 63));
}
inline int64_t filter_size(int64_t nnz) { return std::max<int64_t>(1, (nnz + 3) / 4); }

// Whether user u has item j: the filter first (when there is one), the exact search if needed.
inline bool user_has(const BprPositives& P, int64_t u, int32_t j) {
  if (P.filter) {
    const uint64_t h = filter_hash(u, j);
    const uint64_t bits = filter_bits(h);
    if ((P.filter[filter_word(h, P.filter_words)] & bits) != bits) return false;
  }
  const int64_t begin = P.indptr[u];
  return row_contains(P.indices + begin, P.indptr[u + 1] - begin, j);
}

// The r-th item (0-based, increasing order) that the sorted, unique row does not hold: r plus
// the number of row entries row[k] with row[k] − k <= r (row[k] − k never decreases).
inline int32_t kth_absent(const int32_t* row, int64_t n, int64_t r) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (row[mid] - mid <= r)
      lo = mid + 1;
    else
      hi = mid;
  }
  return static_cast<int32_t>(r + lo);
}

// The negative of one sample from its first candidate: `has(j)` says whether the user has j,
// `redraw()` gives the next candidates, `exhausted()` decides after kMaxNegativeDraws rejected
// candidates (see no_negative_found). Returns -1 when the sample has to be skipped.
template <class Has, class Redraw, class Exhausted>
inline int32_t resolve_negative(int32_t candidate, bool verify, Has&& has, Redraw&& redraw,
                                Exhausted&& exhausted, BprStats& stats) {
  ++stats.draws;
  if (!verify) return candidate;
  for (int draws = 1; has(candidate); ++draws) {
    ++stats.rejected;
    if (draws == kMaxNegativeDraws) return exhausted();
    candidate = redraw();
    ++stats.draws;
  }
  return candidate;
}

// After kMaxNegativeDraws rejections: uniform sampling draws the negative exactly from the
// items the sorted `row` lacks; popularity sampling (or a user with every item) skips.
inline int32_t no_negative_found(bool uniform, const int32_t* row, int64_t n_row, int64_t n_items,
                                 Xoshiro256& retry, BprStats& stats) {
  if (uniform && n_row < n_items) {
    ++stats.draws;
    return kth_absent(row, n_row,
                      static_cast<int64_t>(retry.below(static_cast<uint64_t>(n_items - n_row))));
  }
  ++stats.skipped;
  return -1;
}

// x·(a − b) with dot()'s fixed reduction order (kLanes independent partial sums, then a tree).
template <class T>
inline T dot_difference(const T* x, const T* a, const T* b, int n) {
  T acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l] * (a[i + l] - b[i + l]);
  for (int l = 0; i + l < n; ++l) acc[l] += x[i + l] * (a[i + l] - b[i + l]);
  return sum_lanes(acc);
}

// g = σ(−d) = 1 / (1 + e^d); exact limits 0 and 1 for large |d|, never NaN for finite d.
template <class T>
inline T sigmoid_of_negative(T d) {
  return T(1) / (T(1) + std::exp(d));
}

// One SGD step on the triple (u, i, j). Returns false (and changes nothing) when the score is
// not finite: the factors have diverged.
template <class T>
inline bool sgd_step(T* x, T* yi, T* yj, T* bias, int32_t i, int32_t j, int k, T lr, T reg,
                     BprStats& stats) {
  const T d = dot_difference(x, yi, yj, k) + (bias[i] - bias[j]);
  if (!std::isfinite(d)) return false;
  stats.ranked += d > T(0) ? 2 : (d == T(0) ? 1 : 0);
  ++stats.updates;
  const T g = sigmoid_of_negative(d);
  for (int f = 0; f < k; ++f) {
    const T xu = x[f], a = yi[f], b = yj[f];
    x[f] = xu + lr * (g * (a - b) - reg * xu);
    yi[f] = a + lr * (g * xu - reg * a);
    yj[f] = b + lr * (-g * xu - reg * b);
  }
  const T bi = bias[i], bj = bias[j];
  bias[i] = bi + lr * (g - reg * bi);
  bias[j] = bj + lr * (-g - reg * bj);
  return true;
}

struct Triple {
  int64_t entry = 0;      // the positive's stored entry
  int64_t candidate = 0;  // first negative candidate: an item, or an entry (popularity)
  int32_t user = 0, positive = 0, negative = 0;
};

// The triples of one chunk, produced in order by a software pipeline so that the memory each
// sample needs is requested kStageDistance samples before it is read (d = kStageDistance):
//   A (4d ahead): draw the entry; prefetch its row number and column.
//   B (3d ahead): read user and positive, prefetch their factor rows (through the sink); draw
//                 the first candidate (popularity: prefetch the drawn entry's column).
//   C (2d ahead): the first candidate's item; prefetch its factor row and its filter word.
//   D (d ahead):  verify (filter, then the exact search if needed), redraw if rejected.
// The sink sees the triples in order: sink.user(u) / sink.item(i) are prefetch hints and
// sink.consume(triple) returns false to stop.
class ChunkSampler {
 public:
  ChunkSampler(const BprPositives& P, NegativeSampling sampling, bool verify, uint64_t seed,
               int64_t chunk)
      : P_(P),
        uniform_(sampling == NegativeSampling::Uniform),
        verify_(verify),
        positive_(stream_seed(seed, 3 * static_cast<uint64_t>(chunk))),
        negative_(stream_seed(seed, 3 * static_cast<uint64_t>(chunk) + 1)),
        retry_(stream_seed(seed, 3 * static_cast<uint64_t>(chunk) + 2)) {}

  template <class Sink>
  void run(int64_t count, Sink& sink, BprStats& stats, std::atomic<bool>& stop) {
    constexpr int64_t d = kStageDistance;
    Triple ring[kRingSize];
    const int64_t mask = kRingSize - 1;
    for (int64_t s = -4 * d; s < count; ++s) {
      if (s + 4 * d < count) stage_a(ring[(s + 4 * d) & mask]);
      if (s + 3 * d >= 0 && s + 3 * d < count) stage_b(ring[(s + 3 * d) & mask], sink);
      if (s + 2 * d >= 0 && s + 2 * d < count) stage_c(ring[(s + 2 * d) & mask], sink);
      if (s + d >= 0 && s + d < count) stage_d(ring[(s + d) & mask], sink, stats);
      if (s >= 0) {
        if (!sink.consume(ring[s & mask])) {
          stats.finite = false;
          stop.store(true, std::memory_order_relaxed);
          return;
        }
        if ((s + 1) % kStopCheckEvery == 0 && stop.load(std::memory_order_relaxed)) return;
      }
    }
  }

 private:
  void stage_a(Triple& t) {
    t.entry = static_cast<int64_t>(positive_.below(static_cast<uint64_t>(P_.nnz())));
    prefetch_bytes(P_.entry_rows + t.entry, 1, false);
    prefetch_bytes(P_.indices + t.entry, 1, false);
  }

  template <class Sink>
  void stage_b(Triple& t, Sink& sink) {
    t.user = P_.entry_rows[t.entry];
    t.positive = P_.indices[t.entry];
    sink.user(t.user);
    sink.item(t.positive);
    if (uniform_) {
      t.candidate = static_cast<int64_t>(negative_.below(static_cast<uint64_t>(P_.cols)));
    } else {
      t.candidate = static_cast<int64_t>(negative_.below(static_cast<uint64_t>(P_.nnz())));
      prefetch_bytes(P_.indices + t.candidate, 1, false);
    }
  }

  template <class Sink>
  void stage_c(Triple& t, Sink& sink) {
    t.negative = uniform_ ? static_cast<int32_t>(t.candidate) : P_.indices[t.candidate];
    sink.item(t.negative);
    if (verify_) {
      if (P_.filter)
        prefetch_bytes(P_.filter + filter_word(filter_hash(t.user, t.negative), P_.filter_words), 1,
                       false);
      else
        prefetch_bytes(P_.indptr + t.user, 2, false);
    }
  }

  template <class Sink>
  void stage_d(Triple& t, Sink& sink, BprStats& stats) {
    const int32_t first = t.negative;
    const int64_t user = t.user;
    t.negative = resolve_negative(
        first, verify_, [&](int32_t j) { return user_has(P_, user, j); },
        [&]() {
          return uniform_ ? static_cast<int32_t>(retry_.below(static_cast<uint64_t>(P_.cols)))
                          : P_.indices[retry_.below(static_cast<uint64_t>(P_.nnz()))];
        },
        [&]() {
          const int64_t begin = P_.indptr[user];
          return no_negative_found(uniform_, P_.indices + begin, P_.indptr[user + 1] - begin,
                                   P_.cols, retry_, stats);
        },
        stats);
    if (t.negative >= 0 && t.negative != first) sink.item(t.negative);
  }

  const BprPositives& P_;
  bool uniform_, verify_;
  Xoshiro256 positive_, negative_, retry_;
};

// Sink that applies an SGD step per triple (a fused epoch).
template <class T>
struct SgdSink {
  DenseView<T> X, Y;
  T* bias;
  T lr, reg;
  BprStats* stats;

  void user(int32_t u) const { prefetch_bytes(X.row(u), X.cols, true); }
  void item(int32_t i) const { prefetch_bytes(Y.row(i), Y.cols, true); }
  bool consume(const Triple& t) {
    if (t.negative < 0) return true;
    return sgd_step(X.row(t.user), Y.row(t.positive), Y.row(t.negative), bias, t.positive,
                    t.negative, static_cast<int>(X.cols), lr, reg, *stats);
  }
};

// Sink that records the triples (the sampler on its own).
struct RecordSink {
  int32_t* users;
  int32_t* positives;
  int32_t* negatives;
  int64_t next = 0;

  void user(int32_t) const {}
  void item(int32_t) const {}
  bool consume(const Triple& t) {
    users[next] = t.user;
    positives[next] = t.positive;
    negatives[next] = t.negative;
    ++next;
    return true;
  }
};

template <class T>
void check_bpr_options(const BprOptions<T>& opt) {
  require(std::isfinite(opt.learning_rate) && opt.learning_rate > T(0),
          "learning_rate must be a finite number > 0");
  require_finite_nonnegative(opt.regularization, "regularization");
  require(opt.learning_rate * opt.regularization < T(1),
          "learning_rate * regularization must be < 1");
}

template <class T>
void check_bpr_factors(const BprPositives& P, const DenseView<T>& X, const DenseView<T>& Y,
                       const T* bias) {
  require(X.cols >= 1 && X.cols <= INT32_MAX, "factors must be at least 1");
  require(Y.cols == X.cols, "user and item factors must have the same number of columns");
  require(X.rows == P.rows, "user_factors must have one row per user");
  require(Y.rows == P.cols, "item_factors must have one row per item");
  require(bias != nullptr || Y.rows == 0, "item_bias is required");
}

// Runs `body(chunk, stats)` for every chunk, concurrently when the work is large enough;
// returns the summed counters (in chunk order, so sums are reproducible).
template <class Body>
BprStats run_chunks(int chunks, double work, int num_threads, Body&& body) {
  std::vector<BprStats> per_chunk(static_cast<size_t>(chunks));
  ErrorCollector errors;
  const int threads = std::min(threads_for(work, num_threads), chunks);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int t = 0; t < chunks; ++t) {
    if (errors.failed()) continue;
    errors.run([&] { body(t, per_chunk[static_cast<size_t>(t)]); });
  }
  errors.rethrow();
  BprStats total;
  for (const BprStats& s : per_chunk) total += s;
  return total;
}

// Runs the samplers of all chunks of an epoch (nnz(P) samples, split by chunk_begin), each into
// the sink make_sink(first sample, chunk's stats) returns; `work_per_sample` sizes the team.
template <class T, class MakeSink>
BprStats sample_chunks(const BprPositives& P, const BprOptions<T>& opt, uint64_t seed,
                       double work_per_sample, MakeSink&& make_sink) {
  const int64_t n = P.nnz();
  if (n == 0) return {};
  const int chunks = clamp_threads(opt.num_threads);
  std::atomic<bool> stop{false};
  return run_chunks(chunks, static_cast<double>(n) * work_per_sample, opt.num_threads,
                    [&](int t, BprStats& stats) {
                      const int64_t begin = chunk_begin(n, chunks, t);
                      const int64_t count = chunk_begin(n, chunks, t + 1) - begin;
                      stats.samples = count;
                      auto sink = make_sink(begin, stats);
                      ChunkSampler sampler(P, opt.sampling, opt.verify_negatives, seed, t);
                      sampler.run(count, sink, stats, stop);
                    });
}

}  // namespace detail

// Fills `filter` (filter_size(nnz) words) with the (row, column) pairs of P, for
// BprPositives::filter. O(nnz); P must have been validated.
inline void bpr_membership_filter(const BprPositives& P, uint64_t* filter, int64_t words) {
  require(words == detail::filter_size(P.nnz()), "filter has the wrong size");
  std::fill(filter, filter + words, uint64_t(0));
  for (int64_t r = 0; r < P.rows; ++r)
    for (int64_t e = P.indptr[r]; e < P.indptr[r + 1]; ++e) {
      const uint64_t h = detail::filter_hash(r, P.indices[e]);
      filter[detail::filter_word(h, words)] |= detail::filter_bits(h);
    }
}

// One training epoch: nnz(P) sampled triples, each followed by its SGD step (in place on X, Y
// and bias). Stops early, with stats.finite = false, when a score is not finite.
template <class T>
BprStats bpr_epoch(const BprPositives& P, const DenseView<T>& X, const DenseView<T>& Y, T* bias,
                   const BprOptions<T>& opt, uint64_t seed) {
  detail::check_bpr_options(opt);
  detail::check_bpr_factors(P, X, Y, bias);
  P.validate("user_items", true);
  return detail::sample_chunks(
      P, opt, seed, static_cast<double>(X.cols) * 10, [&](int64_t, BprStats& stats) {
        return detail::SgdSink<T>{X, Y, bias, opt.learning_rate, opt.regularization, &stats};
      });
}

// The triples bpr_epoch would draw with the same arguments, without updating anything:
// users / positives / negatives (nnz(P) each; negative -1 for a skipped sample).
template <class T>
BprStats bpr_sample(const BprPositives& P, const BprOptions<T>& opt, uint64_t seed, int32_t* users,
                    int32_t* positives, int32_t* negatives) {
  P.validate("user_items", true);
  return detail::sample_chunks(P, opt, seed, 20.0, [&](int64_t begin, BprStats&) {
    return detail::RecordSink{users + begin, positives + begin, negatives + begin};
  });
}

// SGD steps over given triples (negative -1: skipped), split into chunks as bpr_epoch splits
// its samples: with the triples of bpr_sample it computes exactly what bpr_epoch computes.
template <class T>
BprStats bpr_update(const DenseView<T>& X, const DenseView<T>& Y, T* bias, const int32_t* users,
                    const int32_t* positives, const int32_t* negatives, int64_t n,
                    const BprOptions<T>& opt) {
  detail::check_bpr_options(opt);
  require(X.cols >= 1 && Y.cols == X.cols, "user and item factors must have the same columns");
  bool ok = true;
  for (int64_t s = 0; s < n; ++s)
    ok = ok && users[s] >= 0 && users[s] < X.rows && positives[s] >= 0 && positives[s] < Y.rows &&
         negatives[s] >= -1 && negatives[s] < Y.rows;
  require(ok, "triples: user or item ids out of range");
  if (n == 0) return {};
  const int chunks = clamp_threads(opt.num_threads);
  std::atomic<bool> stop{false};
  const int k = static_cast<int>(X.cols);
  return detail::run_chunks(
      chunks, static_cast<double>(n) * k * 10, opt.num_threads, [&](int t, BprStats& stats) {
        const int64_t begin = detail::chunk_begin(n, chunks, t);
        const int64_t end = detail::chunk_begin(n, chunks, t + 1);
        stats.samples = end - begin;
        constexpr int64_t ahead = 8;
        for (int64_t s = begin; s < end; ++s) {
          if (s + ahead < end) {
            detail::prefetch_bytes(X.row(users[s + ahead]), k, true);
            detail::prefetch_bytes(Y.row(positives[s + ahead]), k, true);
            if (negatives[s + ahead] >= 0)
              detail::prefetch_bytes(Y.row(negatives[s + ahead]), k, true);
          }
          if (negatives[s] < 0) continue;
          if (!detail::sgd_step(X.row(users[s]), Y.row(positives[s]), Y.row(negatives[s]), bias,
                                positives[s], negatives[s], k, opt.learning_rate,
                                opt.regularization, stats)) {
            stats.finite = false;
            stop.store(true, std::memory_order_relaxed);
            return;
          }
          if ((s - begin + 1) % detail::kStopCheckEvery == 0 &&
              stop.load(std::memory_order_relaxed))
            return;
        }
      });
}

// Fold-in: the factor of each given row (positives of a user, items as in Y) by `epochs` epochs
// of SGD on x alone, with Y and the biases fixed, starting from x = 0. An epoch draws as many
// triples as the row has positives (positive uniform from the row). Every row uses the same
// generators, seeded from `seed` alone, so a row's result does not depend on the other rows or
// on the thread count. Popularity negatives are drawn from `cumulative_counts` (the running sum
// of the training positives per item). A row whose factor stops being finite is set to NaN.
template <class T>
BprStats bpr_fold_in(const BprPositives& R, const DenseView<const T>& Y, const T* bias,
                     const int64_t* cumulative_counts, const DenseView<T>& X, int epochs,
                     const BprOptions<T>& opt, uint64_t seed) {
  detail::check_bpr_options(opt);
  R.validate("user_items", false);
  require(Y.cols >= 1 && X.cols == Y.cols, "user and item factors must have the same columns");
  require(X.rows == R.rows, "one output row per input row is required");
  require(R.cols == Y.rows, "user_items must have one column per item");
  require(epochs >= 0, "epochs must be >= 0");
  const bool uniform = opt.sampling == NegativeSampling::Uniform;
  int64_t total = 0;
  if (!uniform) {
    require(cumulative_counts != nullptr, "popularity sampling needs the item counts");
    bool ok = Y.rows == 0 || cumulative_counts[0] >= 0;
    for (int64_t i = 1; i < Y.rows; ++i)
      ok = ok && cumulative_counts[i] >= cumulative_counts[i - 1];
    require(ok, "cumulative item counts must be non-negative and non-decreasing");
    total = Y.rows > 0 ? cumulative_counts[Y.rows - 1] : 0;
  }
  const int k = static_cast<int>(Y.cols);
  const int64_t n_items = Y.rows;
  const T lr = opt.learning_rate, reg = opt.regularization;
  std::vector<BprStats> per_row(static_cast<size_t>(R.rows));
  ErrorCollector errors;
  const int threads = threads_for(static_cast<double>(R.nnz()) * epochs * k * 6, opt.num_threads);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
  for (int64_t r = 0; r < R.rows; ++r) {
    if (errors.failed()) continue;
    errors.run([&] {
      T* x = X.row(r);
      std::fill(x, x + k, T(0));
      const int32_t* row = R.indices + R.indptr[r];
      const int64_t n_row = R.indptr[r + 1] - R.indptr[r];
      BprStats& stats = per_row[static_cast<size_t>(r)];
      if (n_row == 0 || (!uniform && total == 0)) return;
      Xoshiro256 positive(stream_seed(seed, 0)), negative(stream_seed(seed, 1)),
          retry(stream_seed(seed, 2));
      auto draw = [&](Xoshiro256& g) -> int32_t {
        if (uniform) return static_cast<int32_t>(g.below(static_cast<uint64_t>(n_items)));
        const int64_t c = static_cast<int64_t>(g.below(static_cast<uint64_t>(total)));
        return static_cast<int32_t>(
            std::upper_bound(cumulative_counts, cumulative_counts + n_items, c) -
            cumulative_counts);
      };
      for (int e = 0; e < epochs; ++e) {
        for (int64_t s = 0; s < n_row; ++s) {
          ++stats.samples;
          const int32_t i = row[positive.below(static_cast<uint64_t>(n_row))];
          const int32_t first = draw(negative);
          const int32_t j = detail::resolve_negative(
              first, opt.verify_negatives,
              [&](int32_t c) { return detail::row_contains(row, n_row, c); },
              [&]() { return draw(retry); },
              [&]() {
                return detail::no_negative_found(uniform, row, n_row, n_items, retry, stats);
              },
              stats);
          if (j < 0) continue;
          const T* yi = Y.row(i);
          const T* yj = Y.row(j);
          const T d = detail::dot_difference<T>(x, yi, yj, k) + (bias[i] - bias[j]);
          if (!std::isfinite(d)) {
            stats.finite = false;
            std::fill(x, x + k, std::numeric_limits<T>::quiet_NaN());
            return;
          }
          stats.ranked += d > T(0) ? 2 : (d == T(0) ? 1 : 0);
          ++stats.updates;
          const T g = detail::sigmoid_of_negative(d);
          for (int f = 0; f < k; ++f) x[f] = x[f] + lr * (g * (yi[f] - yj[f]) - reg * x[f]);
        }
      }
    });
  }
  errors.rethrow();
  BprStats total_stats;
  for (const BprStats& s : per_row) total_stats += s;
  return total_stats;
}

MFKIT_LEVEL_END
}  // namespace mfkit
