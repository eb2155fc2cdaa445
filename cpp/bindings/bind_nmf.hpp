// Bindings of the NMF kernels (coordinate descent, multiplicative updates, loss, transform) and
// of the sparse × dense product used by the NNDSVD initialization.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/nmf.hpp"
#include "mfkit/sparse.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
mfkit::NmfOptions<T> nmf_options(const std::string& beta_loss, double l1, double l2,
                                 bool ignore_missing, int num_threads) {
  mfkit::NmfOptions<T> opt;
  opt.loss = parse_choice<mfkit::NmfLoss>(beta_loss, "beta_loss",
                                          {{"frobenius", mfkit::NmfLoss::Frobenius},
                                           {"kullback-leibler", mfkit::NmfLoss::KullbackLeibler}});
  opt.l1 = static_cast<T>(l1);
  opt.l2 = static_cast<T>(l2);
  opt.ignore_missing = ignore_missing;
  opt.num_threads = num_threads;
  return opt;
}

// An optional k x k gram matrix: an empty array means "not given".
template <class T>
const T* optional_gram(const InArray<T>& gram, int64_t k) {
  if (gram.size() == 0) return nullptr;
  if (gram.ndim() != 2 || gram.shape(0) != k || gram.shape(1) != k)
    throw std::invalid_argument("fixed_gram must be n_components x n_components");
  return gram.data();
}

// Optional precomputed products R F (rows x k): an empty array means "not given".
template <class T>
const T* optional_products(const InArray<T>& products, int64_t rows, int64_t k) {
  if (products.size() == 0) return nullptr;
  if (products.ndim() != 2 || products.shape(0) != rows || products.shape(1) != k)
    throw std::invalid_argument("products must be rows x n_components");
  return products.data();
}

// Optional k x k output: None means "not wanted".
template <class T>
T* optional_gram_output(py::object& array, int64_t k) {
  if (array.is_none()) return nullptr;
  if (!py::isinstance<py::array>(array))
    throw std::invalid_argument("solved_gram must be a numpy array or None");
  py::array out = py::reinterpret_borrow<py::array>(array);
  const auto view = output_matrix<T>(out, "solved_gram");
  if (view.rows != k || view.cols != k)
    throw std::invalid_argument("solved_gram must be n_components x n_components");
  return view.ptr;
}

// The arrays of one update step (nmf_cd_update, nmf_mu_update), checked and viewed.
template <class T>
struct NmfStep {
  mfkit::DenseView<const T> F;
  mfkit::DenseView<T> X;
  mfkit::CsrView<T> R;
  const T* products;
  const T* fixed_gram;
  T* solved_gram;
};

template <class T>
NmfStep<T> nmf_step(const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
                    const InArray<T>& data, const InArray<T>& fixed, py::array& solved,
                    const InArray<T>& products, const InArray<T>& fixed_gram,
                    py::object& solved_gram) {
  const auto F = input_matrix(fixed, "fixed factors");
  const auto X = output_matrix<T>(solved, "solved factors");
  return {F,
          X,
          csr(indptr, indices, data, F.rows),
          optional_products(products, X.rows, F.cols),
          optional_gram(fixed_gram, F.cols),
          optional_gram_output<T>(solved_gram, F.cols)};
}

template <class T>
void bind_nmf(py::module_& m, const std::string& suffix) {
  m.def(("nmf_cd_update" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& fixed, py::array solved, const InArray<T>& products,
           const InArray<T>& fixed_gram, py::object solved_gram, double l1, double l2,
           bool ignore_missing, int num_threads) {
          const auto step =
              nmf_step(indptr, indices, data, fixed, solved, products, fixed_gram, solved_gram);
          const auto opt = nmf_options<T>("frobenius", l1, l2, ignore_missing, num_threads);
          py::gil_scoped_release release;
          return mfkit::nmf_cd_update(step.R, step.F, step.fixed_gram, step.X, opt, step.products,
                                      step.solved_gram);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("products"), py::arg("fixed_gram"),
        py::arg("solved_gram").none(true), py::arg("l1"), py::arg("l2"), py::arg("ignore_missing"),
        py::arg("num_threads"),
        "One coordinate-descent sweep over the rows of `solved` (in place); returns the "
        "violation.");

  m.def(("nmf_mu_update" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& fixed, py::array solved, const InArray<T>& products,
           const InArray<T>& fixed_gram, py::object solved_gram, const std::string& beta_loss,
           double l1, double l2, bool ignore_missing, double flush_below, int num_threads) {
          const auto step =
              nmf_step(indptr, indices, data, fixed, solved, products, fixed_gram, solved_gram);
          const auto opt = nmf_options<T>(beta_loss, l1, l2, ignore_missing, num_threads);
          py::gil_scoped_release release;
          mfkit::nmf_mu_update(step.R, step.F, step.fixed_gram, step.X, opt,
                               static_cast<T>(flush_below), step.products, step.solved_gram);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("products"), py::arg("fixed_gram"),
        py::arg("solved_gram").none(true), py::arg("beta_loss"), py::arg("l1"), py::arg("l2"),
        py::arg("ignore_missing"), py::arg("flush_below"), py::arg("num_threads"),
        "One multiplicative update of the rows of `solved` (in place).");

  m.def(("nmf_solve" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& fixed, const InArray<T>& fixed_gram, py::array solved,
           const std::string& solver, const std::string& beta_loss, double l1, double l2,
           bool ignore_missing, int max_iter, double tol, int num_threads) {
          const auto F = input_matrix(fixed, "fixed factors");
          const T* G = optional_gram(fixed_gram, F.cols);
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, F.rows);
          const auto opt = nmf_options<T>(beta_loss, l1, l2, ignore_missing, num_threads);
          const auto kind =
              parse_choice<mfkit::NmfSolver>(solver, "solver",
                                             {{"cd", mfkit::NmfSolver::CoordinateDescent},
                                              {"mu", mfkit::NmfSolver::Multiplicative}});
          py::gil_scoped_release release;
          return mfkit::nmf_solve_rows(R, F, G, X, opt, kind, max_iter, tol);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("fixed_gram"), py::arg("solved").noconvert(), py::arg("solver"),
        py::arg("beta_loss"), py::arg("l1"), py::arg("l2"), py::arg("ignore_missing"),
        py::arg("max_iter"), py::arg("tol"), py::arg("num_threads"),
        "Solve the rows of `solved` in place with `fixed` constant; returns the sweeps done.");

  m.def(("nmf_loss" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& W, const InArray<T>& fixed, const std::string& beta_loss,
           bool ignore_missing, int num_threads) {
          const auto F = input_matrix(fixed, "fixed factors");
          const auto Wv = input_matrix(W, "W");
          const auto R = csr(indptr, indices, data, F.rows);
          const auto opt = nmf_options<T>(beta_loss, 0.0, 0.0, ignore_missing, num_threads);
          py::gil_scoped_release release;
          return mfkit::nmf_loss(R, Wv, F, opt);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("W"), py::arg("fixed"),
        py::arg("beta_loss"), py::arg("ignore_missing"), py::arg("num_threads"),
        "The NMF data term D(X, W fixedᵀ) (no penalties).");

  m.def(("nmf_gram" + suffix).c_str(),
        [](const InArray<T>& factors, int num_threads) {
          const auto F = input_matrix(factors, "factors");
          return new_matrix<T>(F.cols, F.cols, [&](T* G) { mfkit::nmf_gram(F, G, num_threads); });
        },
        py::arg("factors"), py::arg("num_threads"), "FᵀF of a factor matrix (subnormals flushed).");

  m.def(("csr_matmul" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<T>& dense, int num_threads) {
          const auto D = input_matrix(dense, "dense");
          const auto R = csr(indptr, indices, data, D.rows);
          return new_matrix<T>(R.rows, D.cols,
                               [&](T* out) { mfkit::csr_matmul(R, D, out, num_threads); });
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("dense"),
        py::arg("num_threads"), "Sparse (CSR) times dense product.");

  m.def(("csr_transpose_matmul" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices, const InArray<T>& data,
           const InArray<int64_t>& column_ptr, const InArray<T>& dense, py::object out,
           int num_threads) {
          const auto D = input_matrix(dense, "dense");
          if (column_ptr.ndim() != 1 || column_ptr.size() < 1)
            throw std::invalid_argument("column_ptr must be 1-D with n_columns + 1 entries");
          const int64_t cols = column_ptr.size() - 1;
          const auto R = csr(indptr, indices, data, cols);
          if (R.rows != D.rows)
            throw std::invalid_argument("dense must have one row per row of the sparse matrix");
          py::array result = out.is_none() ? py::array(py::array_t<T>({cols, D.cols}))
                                           : py::reinterpret_borrow<py::array>(out);
          if (!out.is_none() && !py::isinstance<py::array>(out))
            throw std::invalid_argument("out must be a numpy array or None");
          const auto O = output_matrix<T>(result, "out");
          if (O.rows != cols || O.cols != D.cols)
            throw std::invalid_argument("out must be n_columns x dense columns");
          const int64_t* ptr = column_ptr.data();
          {
            py::gil_scoped_release release;
            mfkit::csr_transpose_matmul(R, ptr, D, O.ptr, num_threads);
          }
          return result;
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("column_ptr"),
        py::arg("dense"), py::arg("out").none(true), py::arg("num_threads"),
        "Transposed sparse (CSR) times dense product, by scattering rows; into `out` if given.");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
