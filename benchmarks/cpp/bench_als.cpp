// Times ALS iterations of the header-only core on a seeded power-law matrix, without Python.
//
//   cmake -S . -B build/bench -DMFKIT_BUILD_BENCHMARKS=ON [-DMFKIT_NATIVE=ON]
//   cmake --build build/bench && ./build/bench/bench_als [users items nnz threads]
//
// Item popularity is Zipf-like (exponent 0.9) and user activity log-normal, like
// mfkit.datasets.synthetic; values are interaction counts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "mfkit/als.hpp"

namespace {

struct Csr {
  int64_t rows = 0, cols = 0;
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<float> data;
  mfkit::CsrView<float> view() const {
    return {rows, cols, indptr.data(), indices.data(), data.data()};
  }
};

Csr power_law_matrix(int64_t users, int64_t items, int64_t nnz, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> weight(items);
  for (int64_t i = 0; i < items; ++i) weight[i] = 1.0 / std::pow(double(i + 1), 0.9);
  std::shuffle(weight.begin(), weight.end(), rng);
  std::discrete_distribution<int32_t> pick_item(weight.begin(), weight.end());
  std::lognormal_distribution<double> activity(0.0, 1.0);
  std::vector<double> act(users);
  double total = 0;
  for (auto& a : act) total += (a = activity(rng));

  Csr m;
  m.rows = users;
  m.cols = items;
  m.indptr.push_back(0);
  std::vector<int32_t> row;
  for (int64_t u = 0; u < users; ++u) {
    const int64_t draws = std::clamp<int64_t>(std::llround(act[u] / total * nnz), 1, items);
    row.clear();
    for (int64_t d = 0; d < draws; ++d) row.push_back(pick_item(rng));
    std::sort(row.begin(), row.end());
    for (size_t e = 0; e < row.size();) {  // duplicates become counts
      size_t f = e;
      while (f < row.size() && row[f] == row[e]) ++f;
      m.indices.push_back(row[e]);
      m.data.push_back(float(f - e));
      e = f;
    }
    m.indptr.push_back(int64_t(m.indices.size()));
  }
  return m;
}

Csr transpose(const Csr& m) {
  Csr t;
  t.rows = m.cols;
  t.cols = m.rows;
  t.indptr.assign(t.rows + 1, 0);
  for (int32_t c : m.indices) ++t.indptr[c + 1];
  for (int64_t r = 0; r < t.rows; ++r) t.indptr[r + 1] += t.indptr[r];
  t.indices.resize(m.indices.size());
  t.data.resize(m.data.size());
  std::vector<int64_t> next(t.indptr.begin(), t.indptr.end() - 1);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t e = m.indptr[r]; e < m.indptr[r + 1]; ++e) {
      const int64_t slot = next[m.indices[e]]++;
      t.indices[slot] = int32_t(r);
      t.data[slot] = m.data[e];
    }
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t users = argc > 1 ? std::atoll(argv[1]) : 100000;
  const int64_t items = argc > 2 ? std::atoll(argv[2]) : 20000;
  const int64_t nnz = argc > 3 ? std::atoll(argv[3]) : 2000000;
  const int threads = argc > 4 ? std::atoi(argv[4]) : 2;
  const int iterations = 3;

  const Csr by_user = power_law_matrix(users, items, nnz, 42);
  const Csr by_item = transpose(by_user);
  std::printf("%lld users x %lld items, %zu nonzeros, %d threads, OpenMP %s\n", (long long)users,
              (long long)items, by_user.indices.size(), threads, mfkit::kHasOpenMP ? "on" : "off");
  std::printf("ms per iteration and per half-sweep, medians of %d\n", iterations);
  std::printf("factors  solver       total     users     items\n");

  for (int k : {64, 128}) {
    for (auto solver : {mfkit::AlsSolver::ConjugateGradient, mfkit::AlsSolver::Cholesky}) {
      std::mt19937_64 rng(7);
      std::normal_distribution<float> normal(0.0f, 0.1f / std::sqrt(float(k)));
      std::vector<float> X(users * k), Y(items * k);
      for (auto& v : X) v = normal(rng);
      for (auto& v : Y) v = normal(rng);
      mfkit::AlsOptions<float> opt;
      opt.regularization = 0.1f;
      opt.alpha = 10.0f;
      opt.solver = solver;
      opt.num_threads = threads;
      const mfkit::DenseView<float> Xv{users, k, X.data()}, Yv{items, k, Y.data()};
      std::vector<double> user_ms, item_ms;
      for (int it = 0; it < iterations; ++it) {
        const auto start = std::chrono::steady_clock::now();
        mfkit::als_half_sweep(by_user.view(), mfkit::DenseView<const float>{items, k, Y.data()}, Xv,
                              opt);
        const auto middle = std::chrono::steady_clock::now();
        mfkit::als_half_sweep(by_item.view(), mfkit::DenseView<const float>{users, k, X.data()}, Yv,
                              opt);
        const auto end = std::chrono::steady_clock::now();
        user_ms.push_back(std::chrono::duration<double, std::milli>(middle - start).count());
        item_ms.push_back(std::chrono::duration<double, std::milli>(end - middle).count());
      }
      std::sort(user_ms.begin(), user_ms.end());
      std::sort(item_ms.begin(), item_ms.end());
      const double u = user_ms[iterations / 2], i = item_ms[iterations / 2];
      std::printf("%7d  %-8s  %8.1f  %8.1f  %8.1f\n", k,
                  solver == mfkit::AlsSolver::Cholesky ? "cholesky" : "cg", u + i, u, i);
    }
  }
  return 0;
}
