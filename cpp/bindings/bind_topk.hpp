// Binding of the top-k selection used by recommend / similar_*.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/topk.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
void bind_topk(py::module_& m, const std::string& suffix) {
  m.def(("top_k" + suffix).c_str(),
        [](py::array& scores, int k, const InArray<int64_t>& exclude_indptr,
           const InArray<int32_t>& exclude_indices, int num_threads) {
          const auto S = output_matrix<T>(scores, "scores");
          if (k < 0) throw std::invalid_argument("k must be >= 0");
          const bool excluding = exclude_indptr.size() > 0;
          if (excluding) {
            if (exclude_indptr.ndim() != 1 || exclude_indptr.size() != S.rows + 1 ||
                exclude_indices.ndim() != 1 || exclude_indptr.at(0) != 0 ||
                exclude_indptr.at(S.rows) > exclude_indices.size())
              throw std::invalid_argument(
                  "exclude_indptr / exclude_indices must be the CSR arrays of one row per score row");
          }
          py::array_t<int32_t> ids({S.rows, static_cast<int64_t>(k)});
          py::array_t<T> best({S.rows, static_cast<int64_t>(k)});
          int32_t* ids_out = ids.mutable_data();
          T* best_out = best.mutable_data();
          {
            py::gil_scoped_release release;
            if (excluding)
              mfkit::exclude_columns(S.ptr, S.rows, S.cols, exclude_indptr.data(),
                                     exclude_indices.data());
            mfkit::top_k_rows(S.ptr, S.rows, S.cols, k, ids_out, best_out, num_threads);
          }
          return py::make_tuple(ids, best);
        },
        py::arg("scores").noconvert(), py::arg("k"), py::arg("exclude_indptr"),
        py::arg("exclude_indices"), py::arg("num_threads"),
        "Best k column ids and scores of every row (-inf/NaN never selected; pad -1/-inf). "
        "Row r's columns exclude_indices[exclude_indptr[r]:exclude_indptr[r+1]] are first set "
        "to -inf in scores (in place); empty exclude_indptr excludes nothing.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
