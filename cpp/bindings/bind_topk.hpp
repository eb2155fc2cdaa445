// Bindings of the top-k selection and the fused ranking used by recommend / similar_*.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/rank.hpp"
#include "mfkit/topk.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

// Checks shared by rank_rows and rank_candidates: k, and exclusions that are CSR arrays of one
// row per query (or empty) and target ids below n_targets.
inline void check_rank_arguments(int64_t n_queries, int64_t n_targets, int k,
                                 const InArray<int64_t>& exclude_indptr,
                                 const InArray<int32_t>& exclude_indices,
                                 const InArray<int32_t>& excluded_all) {
  if (k < 0) throw std::invalid_argument("k must be >= 0");
  const bool per_row = exclude_indptr.size() > 0;
  if (per_row) {
    if (exclude_indptr.ndim() != 1 || exclude_indptr.size() != n_queries + 1 ||
        exclude_indptr.at(0) != 0 || exclude_indptr.at(n_queries) > exclude_indices.size())
      throw std::invalid_argument(
          "exclude_indptr / exclude_indices must be the CSR arrays of one row per query");
    const int64_t* ptr = exclude_indptr.data();
    for (int64_t r = 0; r < n_queries; ++r)
      if (ptr[r] > ptr[r + 1]) throw std::invalid_argument("exclude_indptr must never decrease");
  }
  const int64_t listed = per_row ? exclude_indptr.at(n_queries) : 0;
  for (int64_t e = 0; e < listed; ++e)
    if (exclude_indices.data()[e] < 0 || exclude_indices.data()[e] >= n_targets)
      throw std::invalid_argument("exclude_indices out of range");
  for (int64_t e = 0; e < excluded_all.size(); ++e)
    if (excluded_all.data()[e] < 0 || excluded_all.data()[e] >= n_targets)
      throw std::invalid_argument("excluded_all out of range");
}

template <class T>
void bind_topk(py::module_& m, const std::string& suffix) {
  m.def(
      ("top_k" + suffix).c_str(),
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

  m.def(("rank_rows" + suffix).c_str(),
        [](const InArray<T>& queries, const InArray<T>& targets_t, int k,
           const InArray<int64_t>& exclude_indptr, const InArray<int32_t>& exclude_indices,
           const InArray<int32_t>& excluded_all, int num_threads) {
          const auto Q = input_matrix(queries, "queries");
          const auto Tt = input_matrix(targets_t, "targets_t");
          if (Q.cols != Tt.rows)
            throw std::invalid_argument("queries and targets_t must share the factor dimension");
          check_rank_arguments(Q.rows, Tt.cols, k, exclude_indptr, exclude_indices, excluded_all);
          py::array_t<int32_t> ids({Q.rows, static_cast<int64_t>(k)});
          py::array_t<T> best({Q.rows, static_cast<int64_t>(k)});
          int32_t* ids_out = ids.mutable_data();
          T* best_out = best.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::rank_rows(Q, Tt, k, exclude_indptr.size() > 0 ? exclude_indptr.data() : nullptr,
                             exclude_indices.data(), excluded_all.data(), excluded_all.size(),
                             ids_out, best_out, num_threads);
          }
          return py::make_tuple(ids, best);
        },
        py::arg("queries"), py::arg("targets_t"), py::arg("k"), py::arg("exclude_indptr"),
        py::arg("exclude_indices"), py::arg("excluded_all"), py::arg("num_threads"),
        "Best k targets of every query by dot product (targets given transposed), scores and "
        "selection fused per block of queries; per-query and global exclusions.");

  m.def(("rank_candidates" + suffix).c_str(),
        [](const InArray<T>& queries, const InArray<T>& targets, const InArray<int32_t>& candidates,
           int k, const InArray<int64_t>& exclude_indptr, const InArray<int32_t>& exclude_indices,
           const InArray<int32_t>& excluded_all, int num_threads) {
          const auto Q = input_matrix(queries, "queries");
          const auto Tr = input_matrix(targets, "targets");
          if (Q.cols != Tr.cols)
            throw std::invalid_argument("queries and targets must share the factor dimension");
          check_rank_arguments(Q.rows, Tr.rows, k, exclude_indptr, exclude_indices, excluded_all);
          if (candidates.ndim() != 1) throw std::invalid_argument("candidates must be 1-D");
          const int32_t* listed = candidates.data();
          for (int64_t c = 0; c < candidates.size(); ++c)
            if (listed[c] < 0 || listed[c] >= Tr.rows || (c > 0 && listed[c] <= listed[c - 1]))
              throw std::invalid_argument(
                  "candidates must be strictly increasing target ids in range");
          py::array_t<int32_t> ids({Q.rows, static_cast<int64_t>(k)});
          py::array_t<T> best({Q.rows, static_cast<int64_t>(k)});
          int32_t* ids_out = ids.mutable_data();
          T* best_out = best.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::rank_candidates(Q, Tr, listed, candidates.size(), k,
                                   exclude_indptr.size() > 0 ? exclude_indptr.data() : nullptr,
                                   exclude_indices.data(), excluded_all.data(), excluded_all.size(),
                                   ids_out, best_out, num_threads);
          }
          return py::make_tuple(ids, best);
        },
        py::arg("queries"), py::arg("targets"), py::arg("candidates"), py::arg("k"),
        py::arg("exclude_indptr"), py::arg("exclude_indices"), py::arg("excluded_all"),
        py::arg("num_threads"),
        "rank_rows over the listed candidate targets only (strictly increasing ids; targets "
        "given as rows); exclusions name target ids.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
