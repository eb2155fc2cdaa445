// pybind11 module mfkit._core: converts arrays to views, releases the GIL, maps errors.
// No maths here; everything numerical lives in the header-only core (cpp/include/mfkit).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "mfkit/als.hpp"
#include "mfkit/dense.hpp"
#include "mfkit/metrics.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/topk.hpp"

namespace py = pybind11;

namespace {

template <class T>
using InArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Read-only inputs may be converted; outputs written in place must already be the right dtype,
// C-contiguous and writeable, otherwise the writes would land in a temporary copy.
template <class T>
mfkit::DenseView<T> output_matrix(py::array& array, const char* name) {
  if (!py::isinstance<py::array_t<T>>(array) || array.ndim() != 2 ||
      !(array.flags() & py::array::c_style) || !array.writeable())
    throw std::invalid_argument(std::string(name) +
                                " must be a writeable C-contiguous 2-D array of the model dtype");
  return {array.shape(0), array.shape(1), static_cast<T*>(array.mutable_data())};
}

template <class T>
mfkit::DenseView<const T> input_matrix(const InArray<T>& array, const char* name) {
  if (array.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
  return {array.shape(0), array.shape(1), array.data()};
}

template <class T>
mfkit::CsrView<T> csr(const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
                      const InArray<T>& data, int64_t cols) {
  if (indptr.ndim() != 1 || indices.ndim() != 1 || data.ndim() != 1 || indptr.size() < 1)
    throw std::invalid_argument("user_items: indptr, indices and data must be 1-D");
  const int64_t rows = indptr.size() - 1;
  const int64_t nnz = indptr.at(rows);
  if (indices.size() < nnz || data.size() < nnz || nnz < 0)
    throw std::invalid_argument("user_items: indptr[-1] exceeds the length of indices/data");
  return {rows, cols, indptr.data(), indices.data(), data.data()};
}

template <class T>
mfkit::AlsOptions<T> als_options(double regularization, double regularization_exponent,
                                 double alpha, const std::string& solver, int cg_steps,
                                 int num_threads) {
  mfkit::AlsOptions<T> opt;
  opt.regularization = static_cast<T>(regularization);
  opt.regularization_exponent = static_cast<T>(regularization_exponent);
  opt.alpha = static_cast<T>(alpha);
  if (solver == "cg")
    opt.solver = mfkit::AlsSolver::ConjugateGradient;
  else if (solver == "cholesky")
    opt.solver = mfkit::AlsSolver::Cholesky;
  else
    throw std::invalid_argument("solver must be 'cg' or 'cholesky', got '" + solver + "'");
  opt.cg_steps = cg_steps;
  opt.num_threads = num_threads;
  return opt;
}

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
  m.def(("als_half_sweep" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& fixed, py::array solved,
           double regularization, double regularization_exponent, double alpha,
           const std::string& solver, int cg_steps, int num_threads) {
          const auto Y = input_matrix(fixed, "fixed factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt = als_options<T>(regularization, regularization_exponent, alpha, solver,
                                          cg_steps, num_threads);
          py::gil_scoped_release release;
          mfkit::als_half_sweep(R, Y, X, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("regularization"),
        py::arg("regularization_exponent"), py::arg("alpha"), py::arg("solver"),
        py::arg("cg_steps"), py::arg("num_threads"),
        "Solve every row of `solved` with `fixed` held constant (one ALS half-sweep), in place.");

  m.def(("als_solve_rows" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& fixed, const InArray<T>& fixed_gram,
           py::array solved, double regularization, double regularization_exponent,
           double alpha, const std::string& solver, int cg_steps, int num_threads) {
          const auto Y = input_matrix(fixed, "fixed factors");
          const auto G = input_matrix(fixed_gram, "gram");
          if (G.rows != Y.cols || G.cols != Y.cols)
            throw std::invalid_argument("gram must be factors x factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt = als_options<T>(regularization, regularization_exponent, alpha, solver,
                                          cg_steps, num_threads);
          py::gil_scoped_release release;
          mfkit::als_solve_rows(R, Y, G.ptr, X, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("gram"), py::arg("solved").noconvert(), py::arg("regularization"),
        py::arg("regularization_exponent"), py::arg("alpha"), py::arg("solver"),
        py::arg("cg_steps"), py::arg("num_threads"),
        "Solve the rows of `solved` in place given `fixed` and its cached gram matrix.");

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

  m.def(("als_loss" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& user_factors,
           const InArray<T>& item_factors, double regularization, double regularization_exponent,
           double alpha, int num_threads) {
          const auto X = input_matrix(user_factors, "user_factors");
          const auto Y = input_matrix(item_factors, "item_factors");
          const auto R = csr(indptr, indices, data, Y.rows);
          const auto opt = als_options<T>(regularization, regularization_exponent, alpha, "cg", 1,
                                          num_threads);
          py::gil_scoped_release release;
          return mfkit::als_loss(R, X, Y, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("user_factors"),
        py::arg("item_factors"), py::arg("regularization"), py::arg("regularization_exponent"),
        py::arg("alpha"), py::arg("num_threads"), "Full implicit-ALS objective.");

  m.def(("gram" + suffix).c_str(),
        [](const InArray<T>& factors, int num_threads) {
          const auto Y = input_matrix(factors, "factors");
          py::array_t<T> G({Y.cols, Y.cols});
          T* out = G.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::gram(Y, out, num_threads);
          }
          return G;
        },
        py::arg("factors"), py::arg("num_threads"), "YᵀY of a factor matrix.");

  m.def(("ranking_metrics" + suffix).c_str(),
        [](const InArray<T>& scores, const InArray<int64_t>& train_indptr,
           const InArray<int32_t>& train_indices, const InArray<int64_t>& test_indptr,
           const InArray<int32_t>& test_indices, int k, int num_threads) {
          const auto S = input_matrix(scores, "scores");
          // Sparsity patterns only (data = nullptr): the kernel never reads values.
          auto pattern = [&](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
                             const std::string& name) {
            if (indptr.ndim() != 1 || indices.ndim() != 1 || indptr.size() != S.rows + 1)
              throw std::invalid_argument(name + ": indptr must be 1-D with one entry per row of "
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

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mfkit compiled core (header-only C++ kernels exposed to Python)";
  m.attr("has_openmp") = mfkit::kHasOpenMP;
  py::register_exception<mfkit::NumericalError>(m, "NumericalError", PyExc_ArithmeticError);
  bind_dtype<float>(m, "_f32");
  bind_dtype<double>(m, "_f64");
}
