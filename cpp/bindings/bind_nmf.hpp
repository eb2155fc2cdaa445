// Bindings of the NMF kernels (coordinate descent, multiplicative updates, loss, transform) and
// of the sparse × dense product used by the NNDSVD initialization.
#pragma once

#include <string>

#include "arrays.hpp"
#include "mfkit/nmf.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
mfkit::NmfOptions<T> nmf_options(const std::string& beta_loss, double l1, double l2,
                                 bool ignore_missing, int num_threads) {
  mfkit::NmfOptions<T> opt;
  if (beta_loss == "frobenius")
    opt.loss = mfkit::NmfLoss::Frobenius;
  else if (beta_loss == "kullback-leibler")
    opt.loss = mfkit::NmfLoss::KullbackLeibler;
  else
    throw std::invalid_argument("beta_loss must be 'frobenius' or 'kullback-leibler', got '" +
                                beta_loss + "'");
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

template <class T>
void bind_nmf(py::module_& m, const std::string& suffix) {
  m.def(("nmf_cd_update" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& fixed, py::array solved,
           const InArray<T>& products, const InArray<T>& fixed_gram, py::object solved_gram,
           double l1, double l2, bool ignore_missing, int num_threads) {
          const auto F = input_matrix(fixed, "fixed factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, F.rows);
          const T* P = optional_products(products, X.rows, F.cols);
          const T* G = optional_gram(fixed_gram, F.cols);
          T* out = optional_gram_output<T>(solved_gram, F.cols);
          const auto opt = nmf_options<T>("frobenius", l1, l2, ignore_missing, num_threads);
          py::gil_scoped_release release;
          return mfkit::nmf_cd_update(R, F, G, X, opt, P, out);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("products"), py::arg("fixed_gram"),
        py::arg("solved_gram").none(true), py::arg("l1"), py::arg("l2"),
        py::arg("ignore_missing"), py::arg("num_threads"),
        "One coordinate-descent sweep over the rows of `solved` (in place); returns the "
        "violation.");

  m.def(("nmf_mu_update" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& fixed, py::array solved,
           const InArray<T>& products, const InArray<T>& fixed_gram, py::object solved_gram,
           const std::string& beta_loss, double l1, double l2, bool ignore_missing,
           double flush_below, int num_threads) {
          const auto F = input_matrix(fixed, "fixed factors");
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, F.rows);
          const T* P = optional_products(products, X.rows, F.cols);
          const T* G = optional_gram(fixed_gram, F.cols);
          T* out = optional_gram_output<T>(solved_gram, F.cols);
          const auto opt = nmf_options<T>(beta_loss, l1, l2, ignore_missing, num_threads);
          py::gil_scoped_release release;
          mfkit::nmf_mu_update(R, F, G, X, opt, static_cast<T>(flush_below), P, out);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("solved").noconvert(), py::arg("products"), py::arg("fixed_gram"),
        py::arg("solved_gram").none(true), py::arg("beta_loss"), py::arg("l1"),
        py::arg("l2"),
        py::arg("ignore_missing"), py::arg("flush_below"), py::arg("num_threads"),
        "One multiplicative update of the rows of `solved` (in place).");

  m.def(("nmf_solve" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& fixed, const InArray<T>& fixed_gram,
           py::array solved, const std::string& solver, const std::string& beta_loss, double l1,
           double l2, bool ignore_missing, int max_iter, double tol, int num_threads) {
          const auto F = input_matrix(fixed, "fixed factors");
          const T* G = optional_gram(fixed_gram, F.cols);
          const auto X = output_matrix<T>(solved, "solved factors");
          const auto R = csr(indptr, indices, data, F.rows);
          const auto opt = nmf_options<T>(beta_loss, l1, l2, ignore_missing, num_threads);
          mfkit::NmfSolver kind;
          if (solver == "cd")
            kind = mfkit::NmfSolver::CoordinateDescent;
          else if (solver == "mu")
            kind = mfkit::NmfSolver::Multiplicative;
          else
            throw std::invalid_argument("solver must be 'cd' or 'mu', got '" + solver + "'");
          py::gil_scoped_release release;
          return mfkit::nmf_solve_rows(R, F, G, X, opt, kind, max_iter, tol);
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("fixed"),
        py::arg("fixed_gram"), py::arg("solved").noconvert(), py::arg("solver"),
        py::arg("beta_loss"), py::arg("l1"), py::arg("l2"), py::arg("ignore_missing"),
        py::arg("max_iter"), py::arg("tol"), py::arg("num_threads"),
        "Solve the rows of `solved` in place with `fixed` constant; returns the sweeps done.");

  m.def(("nmf_loss" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& W, const InArray<T>& fixed,
           const std::string& beta_loss, bool ignore_missing, int num_threads) {
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
          py::array_t<T> G({F.cols, F.cols});
          T* out = G.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::nmf_gram(F, out, num_threads);
          }
          return G;
        },
        py::arg("factors"), py::arg("num_threads"), "FᵀF of a factor matrix (subnormals flushed).");

  m.def(("csr_matmul" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<T>& dense, int num_threads) {
          const auto D = input_matrix(dense, "dense");
          const auto R = csr(indptr, indices, data, D.rows);
          py::array_t<T> out({R.rows, D.cols});
          T* o = out.mutable_data();
          {
            py::gil_scoped_release release;
            mfkit::csr_matmul(R, D, o, num_threads);
          }
          return out;
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("dense"),
        py::arg("num_threads"), "Sparse (CSR) times dense product.");

  m.def(("csr_transpose_matmul" + suffix).c_str(),
        [](const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
           const InArray<T>& data, const InArray<int64_t>& column_ptr, const InArray<T>& dense,
           py::object out, int num_threads) {
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
