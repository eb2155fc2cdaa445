// Binding of the per-user ranking metrics kernel.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/metrics.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
void bind_metrics(py::module_& m, const std::string& suffix) {
  m.def(("ranking_metrics" + suffix).c_str(),
        [](const InArray<T>& scores, const InArray<int64_t>& train_indptr,
           const InArray<int32_t>& train_indices, const InArray<int64_t>& test_indptr,
           const InArray<int32_t>& test_indices, int k, int num_threads) {
          const auto S = input_matrix(scores, "scores");
          // Sparsity patterns only (data = nullptr): the kernel never reads values.
          auto pattern = [&](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
                             const std::string& name) {
            if (indptr.ndim() != 1 || indices.ndim() != 1 || indptr.size() != S.rows + 1)
              throw std::invalid_argument(name +
                                          ": indptr must be 1-D with one entry per row of "
                                          "scores plus one, and indices 1-D");
            const int64_t nnz = indptr.at(S.rows);
            if (nnz < 0 || indices.size() < nnz)
              throw std::invalid_argument(name + ": indptr[-1] exceeds the length of indices");
            return mfkit::CsrView<T>{S.rows, S.cols, indptr.data(), indices.data(), nullptr};
          };
          const auto train = pattern(train_indptr, train_indices, "train");
          const auto test = pattern(test_indptr, test_indices, "test");
          if (k < 1) throw std::invalid_argument("K must be >= 1");
          py::array_t<double> metrics({S.rows, static_cast<int64_t>(mfkit::kRankingMetricCount)});
          double* out = metrics.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::ranking_metrics(S, train, test, k, out, num_threads);
          }
          return metrics;
        },
        py::arg("scores"), py::arg("train_indptr"), py::arg("train_indices"),
        py::arg("test_indptr"), py::arg("test_indices"), py::arg("k"), py::arg("num_threads"),
        "Per-user precision, recall, AP, nDCG, hit rate, reciprocal rank (at k) and AUC "
        "(rows x 7, NaN rows for users without relevant test items).");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
