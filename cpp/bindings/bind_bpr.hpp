// Bindings of the BPR kernels: a fused epoch (sample + SGD), the sampler and the SGD steps on
// their own (so the numpy twin can consume the very same triples), and the fold-in of new users.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "arrays.hpp"
#include "mfkit/bpr.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
mfkit::BprOptions<T> bpr_options(double learning_rate, double regularization,
                                 const std::string& negative_sampling, bool verify,
                                 int num_threads) {
  mfkit::BprOptions<T> opt;
  opt.learning_rate = static_cast<T>(learning_rate);
  opt.regularization = static_cast<T>(regularization);
  opt.sampling =
      parse_choice<mfkit::NegativeSampling>(negative_sampling, "negative_sampling",
                                            {{"uniform", mfkit::NegativeSampling::Uniform},
                                             {"popularity", mfkit::NegativeSampling::Popularity}});
  opt.verify_negatives = verify;
  opt.num_threads = num_threads;
  return opt;
}

inline mfkit::BprPositives bpr_positives(const InArray<int64_t>& indptr,
                                         const InArray<int32_t>& indices,
                                         const InArray<int32_t>* entry_rows, int64_t n_items,
                                         const InArray<uint64_t>* filter = nullptr) {
  if (indptr.ndim() != 1 || indices.ndim() != 1 || indptr.size() < 1)
    throw std::invalid_argument("user_items: indptr and indices must be 1-D");
  const int64_t rows = indptr.size() - 1;
  const int64_t nnz = indptr.at(rows);
  if (nnz < 0 || indices.size() < nnz)
    throw std::invalid_argument("user_items: indptr[-1] exceeds the length of indices");
  if (entry_rows && (entry_rows->ndim() != 1 || entry_rows->size() < nnz))
    throw std::invalid_argument("entry_rows must be 1-D with one entry per stored entry");
  mfkit::BprPositives P{rows, n_items, indptr.data(), indices.data(),
                        entry_rows ? entry_rows->data() : nullptr};
  if (filter && filter->size() > 0) {  // an empty filter means none
    if (filter->ndim() != 1) throw std::invalid_argument("filter must be 1-D");
    P.filter = filter->data();
    P.filter_words = filter->size();
  }
  return P;
}

inline py::dict bpr_stats(const mfkit::BprStats& s) {
  py::dict d;
  d["samples"] = s.samples;
  d["updates"] = s.updates;
  d["ranked"] = s.ranked;
  d["draws"] = s.draws;
  d["rejected"] = s.rejected;
  d["skipped"] = s.skipped;
  d["finite"] = s.finite;
  return d;
}

template <class T>
void bind_bpr(py::module_& m, const std::string& suffix) {
  m.def(("bpr_epoch" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<int32_t>& entry_rows, const InArray<uint64_t>& filter,
           py::array user_factors, py::array item_factors, py::array item_bias,
           double learning_rate, double regularization, const std::string& negative_sampling,
           bool verify_negative_samples, uint64_t seed, int num_threads) {
          const auto X = output_matrix<T>(user_factors, "user_factors");
          const auto Y = output_matrix<T>(item_factors, "item_factors");
          T* bias = output_vector<T>(item_bias, Y.rows, "item_bias");
          const auto P = bpr_positives(indptr, indices, &entry_rows, Y.rows, &filter);
          const auto opt = bpr_options<T>(learning_rate, regularization, negative_sampling,
                                          verify_negative_samples, num_threads);
          mfkit::BprStats stats;
          {
            py::gil_scoped_release release;
            stats = mfkit::bpr_epoch(P, X, Y, bias, opt, seed);
          }
          return bpr_stats(stats);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("entry_rows"), py::arg("filter"),
        py::arg("user_factors").noconvert(), py::arg("item_factors").noconvert(),
        py::arg("item_bias").noconvert(), py::arg("learning_rate"), py::arg("regularization"),
        py::arg("negative_sampling"), py::arg("verify_negative_samples"), py::arg("seed"),
        py::arg("num_threads"),
        "One BPR epoch (nnz sampled triples, an SGD step each), in place; returns counters.");

  m.def(("bpr_sample" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<int32_t>& entry_rows, const InArray<uint64_t>& filter, int64_t n_items,
           const std::string& negative_sampling, bool verify_negative_samples, uint64_t seed,
           int num_threads) {
          const auto P = bpr_positives(indptr, indices, &entry_rows, n_items, &filter);
          const auto opt =
              bpr_options<T>(0.01, 0.0, negative_sampling, verify_negative_samples, num_threads);
          const int64_t n = P.nnz();
          py::array_t<int32_t> users(n), positives(n), negatives(n);
          int32_t* u = users.mutable_data();
          int32_t* p = positives.mutable_data();
          int32_t* q = negatives.mutable_data();
          mfkit::BprStats stats;
          {
            py::gil_scoped_release release;
            stats = mfkit::bpr_sample(P, opt, seed, u, p, q);
          }
          return py::make_tuple(users, positives, negatives, bpr_stats(stats));
        },
        py::arg("indptr"), py::arg("indices"), py::arg("entry_rows"), py::arg("filter"),
        py::arg("n_items"), py::arg("negative_sampling"), py::arg("verify_negative_samples"),
        py::arg("seed"), py::arg("num_threads"),
        "The (user, positive, negative) triples bpr_epoch draws with these arguments.");

  m.def(("bpr_update" + suffix).c_str(),
        [](py::array user_factors, py::array item_factors, py::array item_bias,
           const InArray<int32_t>& users, const InArray<int32_t>& positives,
           const InArray<int32_t>& negatives, double learning_rate, double regularization,
           int num_threads) {
          const auto X = output_matrix<T>(user_factors, "user_factors");
          const auto Y = output_matrix<T>(item_factors, "item_factors");
          T* bias = output_vector<T>(item_bias, Y.rows, "item_bias");
          if (users.ndim() != 1 || positives.ndim() != 1 || negatives.ndim() != 1 ||
              positives.size() != users.size() || negatives.size() != users.size())
            throw std::invalid_argument("users, positives and negatives must be 1-D, equally long");
          const auto opt =
              bpr_options<T>(learning_rate, regularization, "uniform", true, num_threads);
          const int32_t* u = users.data();
          const int32_t* p = positives.data();
          const int32_t* q = negatives.data();
          const int64_t n = users.size();
          mfkit::BprStats stats;
          {
            py::gil_scoped_release release;
            stats = mfkit::bpr_update(X, Y, bias, u, p, q, n, opt);
          }
          return bpr_stats(stats);
        },
        py::arg("user_factors").noconvert(), py::arg("item_factors").noconvert(),
        py::arg("item_bias").noconvert(), py::arg("users"), py::arg("positives"),
        py::arg("negatives"), py::arg("learning_rate"), py::arg("regularization"),
        py::arg("num_threads"), "BPR SGD steps over given triples, in place; returns counters.");

  m.def(("bpr_membership_filter" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, int64_t n_items) {
          const auto P = bpr_positives(indptr, indices, nullptr, n_items);
          const int64_t words = mfkit::detail::filter_size(P.nnz());
          py::array_t<uint64_t> filter(words);
          uint64_t* out = filter.mutable_data();
          {
            py::gil_scoped_release release;
            P.validate("user_items", false);
            mfkit::bpr_membership_filter(P, out, words);
          }
          return filter;
        },
        py::arg("indptr"), py::arg("indices"), py::arg("n_items"),
        "The membership filter of the positives' (user, item) pairs that bpr_epoch and "
        "bpr_sample use to skip most exact row searches (results do not depend on it).");

  m.def(("bpr_fold_in" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& item_factors, const InArray<T>& item_bias,
           const InArray<int64_t>& cumulative_counts, py::array solved, int epochs,
           double learning_rate, double regularization, const std::string& negative_sampling,
           bool verify_negative_samples, uint64_t seed, int num_threads) {
          const auto Y = input_matrix(item_factors, "item_factors");
          if (item_bias.ndim() != 1 || item_bias.size() != Y.rows)
            throw std::invalid_argument("item_bias must be 1-D with one entry per item");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = bpr_positives(indptr, indices, nullptr, Y.rows);
          const auto opt = bpr_options<T>(learning_rate, regularization, negative_sampling,
                                          verify_negative_samples, num_threads);
          const int64_t* counts = nullptr;
          if (opt.sampling == mfkit::NegativeSampling::Popularity) {
            if (cumulative_counts.ndim() != 1 || cumulative_counts.size() != Y.rows)
              throw std::invalid_argument("cumulative_counts must be 1-D with one entry per item");
            counts = cumulative_counts.data();
          }
          const T* bias = item_bias.data();
          mfkit::BprStats stats;
          {
            py::gil_scoped_release release;
            stats = mfkit::bpr_fold_in(R, Y, bias, counts, X, epochs, opt, seed);
          }
          return bpr_stats(stats);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("item_factors"), py::arg("item_bias"),
        py::arg("cumulative_counts"), py::arg("solved").noconvert(), py::arg("epochs"),
        py::arg("learning_rate"), py::arg("regularization"), py::arg("negative_sampling"),
        py::arg("verify_negative_samples"), py::arg("seed"), py::arg("num_threads"),
        "User factors from their positives with the items fixed (BPR fold-in), in place.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
