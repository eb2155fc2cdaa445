// Bindings of the implicit ALS kernels and the gram matrix.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/als.hpp"
#include "mfkit/dense.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
mfkit::AlsOptions<T> als_options(double regularization, double regularization_exponent,
                                 const std::string& regularization_scheme, double alpha,
                                 const std::string& solver, int cg_steps, int block_size,
                                 int block_sweeps, int num_threads) {
  mfkit::AlsOptions<T> opt;
  opt.regularization = static_cast<T>(regularization);
  opt.regularization_exponent = static_cast<T>(regularization_exponent);
  opt.regularization_scheme =
      parse_choice<mfkit::AlsRegularization>(regularization_scheme, "regularization_scheme",
                                             {{"count", mfkit::AlsRegularization::Count},
                                              {"frequency", mfkit::AlsRegularization::Frequency}});
  opt.alpha = static_cast<T>(alpha);
  opt.solver = parse_choice<mfkit::AlsSolver>(solver, "solver",
                                              {{"cg", mfkit::AlsSolver::ConjugateGradient},
                                               {"cholesky", mfkit::AlsSolver::Cholesky},
                                               {"block", mfkit::AlsSolver::Block}});
  opt.cg_steps = cg_steps;
  opt.block_size = block_size;
  opt.block_sweeps = block_sweeps;
  opt.num_threads = num_threads;
  return opt;
}

template <class T>
void bind_als(py::module_& m, const std::string& suffix) {
  m.def(("als_half_sweep" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& fixed, py::array solved, double regularization,
           double regularization_exponent, const std::string& regularization_scheme, double alpha,
           const std::string& solver, int cg_steps, int block_size, int block_sweeps,
           int num_threads) {
          const auto Y = input_matrix(fixed, "fixed factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt =
              als_options<T>(regularization, regularization_exponent, regularization_scheme, alpha,
                             solver, cg_steps, block_size, block_sweeps, num_threads);
          py::gil_scoped_release release;
          mfkit::als_half_sweep(R, Y, X, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("regularization"),
        py::arg("regularization_exponent"), py::arg("regularization_scheme"), py::arg("alpha"),
        py::arg("solver"), py::arg("cg_steps"), py::arg("block_size"), py::arg("block_sweeps"),
        py::arg("num_threads"),
        "Solve every row of `solved` with `fixed` held constant (one ALS half-sweep), in place.");

  m.def(("als_solve_rows" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& fixed, const InArray<T>& fixed_gram, py::array solved,
           double regularization, double regularization_exponent,
           const std::string& regularization_scheme, double alpha, const std::string& solver,
           int cg_steps, int block_size, int block_sweeps, int num_threads) {
          const auto Y = input_matrix(fixed, "fixed factors");
          const auto G = input_matrix(fixed_gram, "gram");
          if (G.rows != Y.cols || G.cols != Y.cols)
            throw std::invalid_argument("gram must be factors x factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt =
              als_options<T>(regularization, regularization_exponent, regularization_scheme, alpha,
                             solver, cg_steps, block_size, block_sweeps, num_threads);
          py::gil_scoped_release release;
          mfkit::als_solve_rows(R, Y, G.ptr, X, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"), py::arg("gram"),
        py::arg("solved").noconvert(), py::arg("regularization"),
        py::arg("regularization_exponent"), py::arg("regularization_scheme"), py::arg("alpha"),
        py::arg("solver"), py::arg("cg_steps"), py::arg("block_size"), py::arg("block_sweeps"),
        py::arg("num_threads"),
        "Solve the rows of `solved` in place given `fixed` and its cached gram matrix.");

  m.def(("als_loss" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& user_factors, const InArray<T>& item_factors, double regularization,
           double regularization_exponent, const std::string& regularization_scheme, double alpha,
           int num_threads) {
          const auto X = input_matrix(user_factors, "user_factors");
          const auto Y = input_matrix(item_factors, "item_factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt = als_options<T>(regularization, regularization_exponent,
                                          regularization_scheme, alpha, "cg", 1, 1, 1, num_threads);
          py::gil_scoped_release release;
          return mfkit::als_loss(R, X, Y, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("user_factors"),
        py::arg("item_factors"), py::arg("regularization"), py::arg("regularization_exponent"),
        py::arg("regularization_scheme"), py::arg("alpha"), py::arg("num_threads"),
        "Full implicit-ALS objective.");

  m.def(("gram" + suffix).c_str(),
        [](const InArray<T>& factors, int num_threads) {
          const auto Y = input_matrix(factors, "factors");
          return new_matrix<T>(Y.cols, Y.cols, [&](T* G) { mfkit::gram(Y, G, num_threads); });
        },
        py::arg("factors"), py::arg("num_threads"), "YᵀY of a factor matrix.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
