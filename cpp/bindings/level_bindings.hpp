// The kernels of one instruction-set level, bound into a submodule of mfkit._core. Included once
// by each level_*.cpp after its instruction-set pragma (so no include guard), with MFKIT_LEVEL
// naming the level's namespace.
#include "bind_als.hpp"
#include "bind_bpr.hpp"
#include "bind_explicit.hpp"
#include "bind_metrics.hpp"
#include "bind_nmf.hpp"
#include "bind_topk.hpp"

namespace mfkit_bindings {
MFKIT_LEVEL_BEGIN

template <class T>
void bind_dtype(py::module_& m, const std::string& suffix) {
  bind_als<T>(m, suffix);
  bind_bpr<T>(m, suffix);
  bind_explicit<T>(m, suffix);
  bind_topk<T>(m, suffix);
  bind_metrics<T>(m, suffix);
  bind_nmf<T>(m, suffix);
}

void bind_level(py::module_& m) {
  bind_dtype<float>(m, "_f32");
  bind_dtype<double>(m, "_f64");
}

MFKIT_LEVEL_END
}  // namespace mfkit_bindings
