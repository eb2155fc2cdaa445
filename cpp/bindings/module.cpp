// pybind11 module mfkit._core: converts arrays, releases the GIL, maps errors. No maths here;
// everything numerical lives in the header-only core (cpp/include/mfkit). One bind_*.hpp per
// family of kernels; each binds a float32 ("_f32") and a float64 ("_f64") variant, and Python
// picks one by dtype.
#include <pybind11/pybind11.h>

#include "bind_als.hpp"
#include "bind_bpr.hpp"
#include "bind_explicit.hpp"
#include "bind_metrics.hpp"
#include "bind_nmf.hpp"
#include "bind_topk.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"

namespace py = pybind11;

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
  mfkit_bindings::bind_als<T>(m, suffix);
  mfkit_bindings::bind_bpr<T>(m, suffix);
  mfkit_bindings::bind_explicit<T>(m, suffix);
  mfkit_bindings::bind_topk<T>(m, suffix);
  mfkit_bindings::bind_metrics<T>(m, suffix);
  mfkit_bindings::bind_nmf<T>(m, suffix);
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "mfkit compiled core (header-only C++ kernels exposed to Python)";
  m.attr("has_openmp") = mfkit::kHasOpenMP;
  py::register_exception<mfkit::NumericalError>(m, "NumericalError", PyExc_ArithmeticError);
  bind_dtype<float>(m, "_f32");
  bind_dtype<double>(m, "_f64");
}
