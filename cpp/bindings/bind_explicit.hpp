// Bindings of the explicit-feedback matrix factorization kernels (mfkit/explicit_mf.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "arrays.hpp"
#include "mfkit/explicit_mf.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

inline int explicit_grid(int64_t block_ptr_size) {
  int64_t grid = 1;
  while ((grid + 1) * (grid + 1) + 1 <= block_ptr_size) ++grid;
  if (grid * grid + 1 != block_ptr_size)
    throw std::invalid_argument("block_ptr must have grid * grid + 1 entries");
  return static_cast<int>(grid);
}

// The block layout of R: the grid (from the length of block_ptr), block_ptr and the user and item
// block maps, their lengths checked (O(1); RatingBlocks::validate checks the contents).
template <class Blocks>
void set_block_layout(Blocks& R, const InArray<int64_t>& block_ptr,
                      const InArray<int32_t>& user_block, const InArray<int32_t>& item_block) {
  R.grid = explicit_grid(block_ptr.size());
  R.block_ptr = input_vector(block_ptr, block_ptr.size(), "block_ptr");
  R.n_users = user_block.size();
  R.user_block = input_vector(user_block, R.n_users, "user_block");
  R.n_items = item_block.size();
  R.item_block = input_vector(item_block, R.n_items, "item_block");
}

template <class T>
mfkit::ExplicitOptions<T> explicit_options(double global_mean, double learning_rate,
                                           double regularization, bool biased, int num_threads) {
  mfkit::ExplicitOptions<T> opt;
  opt.global_mean = static_cast<T>(global_mean);
  opt.learning_rate = static_cast<T>(learning_rate);
  opt.regularization = static_cast<T>(regularization);
  opt.biased = biased;
  opt.num_threads = num_threads;
  return opt;
}

template <class T>
void bind_explicit(py::module_& m, const std::string& suffix) {
  m.def(("explicit_shuffle" + suffix).c_str(),
        [](py::array users, py::array items, py::array ratings, const InArray<int64_t>& block_ptr,
           const InArray<int32_t>& user_block, const InArray<int32_t>& item_block, uint64_t seed,
           int num_threads) {
          mfkit::RatingBlocks<T, int32_t, T> R;
          R.nnz = users.ndim() == 1 ? users.shape(0) : -1;
          R.users = output_vector<int32_t>(users, R.nnz, "users");
          R.items = output_vector<int32_t>(items, R.nnz, "items");
          R.ratings = output_vector<T>(ratings, R.nnz, "ratings");
          set_block_layout(R, block_ptr, user_block, item_block);
          py::gil_scoped_release release;
          mfkit::explicit_shuffle_blocks<T>(R, seed, num_threads);
        },
        py::arg("users").noconvert(), py::arg("items").noconvert(), py::arg("ratings").noconvert(),
        py::arg("block_ptr"), py::arg("user_block"), py::arg("item_block"), py::arg("seed"),
        py::arg("num_threads"),
        "Shuffle the entries of every block in place (Fisher-Yates, one seeded stream per block).");

  m.def(
      ("explicit_sgd_epoch" + suffix).c_str(),
      [](const InArray<int32_t>& users, const InArray<int32_t>& items, const InArray<T>& ratings,
         const InArray<int64_t>& block_ptr, const InArray<int32_t>& user_block,
         const InArray<int32_t>& item_block, const InArray<int32_t>& strata, py::array user_factors,
         py::array item_factors, py::array user_bias, py::array item_bias, double global_mean,
         double learning_rate, double regularization, bool biased, int num_threads) {
        mfkit::RatingBlocks<T> R;
        R.nnz = users.ndim() == 1 ? users.shape(0) : -1;
        R.users = input_vector(users, R.nnz, "users");
        R.items = input_vector(items, R.nnz, "items");
        R.ratings = input_vector(ratings, R.nnz, "ratings");
        set_block_layout(R, block_ptr, user_block, item_block);
        const int32_t* shifts = input_vector(strata, R.grid, "strata");
        const auto P = output_matrix<T>(user_factors, "user_factors");
        const auto Q = output_matrix<T>(item_factors, "item_factors");
        T* bu = output_vector<T>(user_bias, P.rows, "user_bias");
        T* bi = output_vector<T>(item_bias, Q.rows, "item_bias");
        const auto opt =
            explicit_options<T>(global_mean, learning_rate, regularization, biased, num_threads);
        py::gil_scoped_release release;
        mfkit::explicit_sgd_epoch<T>(R, shifts, P, Q, bu, bi, opt);
      },
      py::arg("users"), py::arg("items"), py::arg("ratings"), py::arg("block_ptr"),
      py::arg("user_block"), py::arg("item_block"), py::arg("strata"),
      py::arg("user_factors").noconvert(), py::arg("item_factors").noconvert(),
      py::arg("user_bias").noconvert(), py::arg("item_bias").noconvert(), py::arg("global_mean"),
      py::arg("learning_rate"), py::arg("regularization"), py::arg("biased"),
      py::arg("num_threads"),
      "One stratified SGD epoch over the rating blocks; factors and biases updated in place.");

  m.def(("explicit_loss" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& user_factors, const InArray<T>& item_factors,
           const InArray<T>& user_bias, const InArray<T>& item_bias, double global_mean,
           double regularization, bool biased, int num_threads) {
          const auto P = input_matrix(user_factors, "user_factors");
          const auto Q = input_matrix(item_factors, "item_factors");
          const T* bu = input_vector(user_bias, P.rows, "user_bias");
          const T* bi = input_vector(item_bias, Q.rows, "item_bias");
          const auto R = csr(indptr, indices, data, Q.rows);
          if (R.rows != P.rows)
            throw std::invalid_argument("ratings must have one row per user factor");
          const auto opt =
              explicit_options<T>(global_mean, 0.0, regularization, biased, num_threads);
          py::gil_scoped_release release;
          return mfkit::explicit_loss<T>(R, P, Q, bu, bi, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("user_factors"),
        py::arg("item_factors"), py::arg("user_bias"), py::arg("item_bias"), py::arg("global_mean"),
        py::arg("regularization"), py::arg("biased"), py::arg("num_threads"),
        "Regularized squared error over the observed ratings.");

  m.def(
      ("explicit_als_solve_rows" + suffix).c_str(),
      [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
         const InArray<T>& fixed, const InArray<T>& fixed_bias, py::array solved,
         py::array solved_bias, double global_mean, double regularization, bool biased,
         int num_threads) {
        const auto F = input_matrix(fixed, "fixed factors");
        const T* c = input_vector(fixed_bias, F.rows, "fixed_bias");
        const auto X = output_matrix<T>(solved, "solved factors");
        T* b = output_vector<T>(solved_bias, X.rows, "solved_bias");
        const auto R = csr(indptr, indices, data, F.rows);
        if (R.rows != X.rows)
          throw std::invalid_argument("ratings must have one row per solved factor");
        const auto opt = explicit_options<T>(global_mean, 0.0, regularization, biased, num_threads);
        py::gil_scoped_release release;
        mfkit::explicit_als_solve_rows<T>(R, F, c, X, b, opt);
      },
      py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
      py::arg("fixed_bias"), py::arg("solved").noconvert(), py::arg("solved_bias").noconvert(),
      py::arg("global_mean"), py::arg("regularization"), py::arg("biased"), py::arg("num_threads"),
      "ALS-WR: solve every row of `solved` (and its bias) exactly with `fixed` held constant.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
