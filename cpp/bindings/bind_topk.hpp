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
        [](const InArray<T>& scores, int k, int num_threads) {
          const auto S = input_matrix(scores, "scores");
          if (k < 0) throw std::invalid_argument("k must be >= 0");
          py::array_t<int32_t> ids({S.rows, static_cast<int64_t>(k)});
          py::array_t<T> best({S.rows, static_cast<int64_t>(k)});
          int32_t* ids_out = ids.mutable_data();
          T* best_out = best.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::top_k_rows(S.ptr, S.rows, S.cols, k, ids_out, best_out, num_threads);
          }
          return py::make_tuple(ids, best);
        },
        py::arg("scores"), py::arg("k"), py::arg("num_threads"),
        "Best k column ids and scores of every row (-inf/NaN never selected; pad -1/-inf).");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
