// pybind11 module mfkit._core: converts arrays, releases the GIL, maps errors. No maths here;
// everything numerical lives in the header-only core (cpp/include/mfkit).
//
// Runtime SIMD dispatch: the kernels are compiled once per instruction-set level (level_*.cpp)
// and each level becomes a submodule (mfkit._core.baseline, .avx2, .avx512) with identical
// functions. `levels` lists the compiled levels from the most portable up, with whether this CPU
// runs them; mfkit._cpp picks one at import (environment variable MFKIT_SIMD overrides).
#include <pybind11/pybind11.h>

#include <string>

#include "mfkit/errors.hpp"
#include "mfkit/parallel.hpp"

namespace py = pybind11;

namespace mfkit_bindings {
namespace baseline {
void bind_level(py::module_& m);
}
#if defined(MFKIT_LEVEL_AVX2)
namespace avx2 {
void bind_level(py::module_& m);
}
#endif
#if defined(MFKIT_LEVEL_AVX512)
namespace avx512 {
void bind_level(py::module_& m);
}
#endif
}  // namespace mfkit_bindings

namespace {

// Whether this CPU (and the operating system, which must save the wider registers) supports
// a level; GCC's and Clang's __builtin_cpu_supports check both.
bool cpu_supports(const std::string& level) {
#if defined(MFKIT_LEVEL_AVX2) || defined(MFKIT_LEVEL_AVX512)
  __builtin_cpu_init();
  // x86-64-v3 as the level files target it: the features both GCC and Clang can query (every
  // CPU with these also has LZCNT, F16C and MOVBE).
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                    __builtin_cpu_supports("popcnt");
  if (level == "avx2") return avx2;
  if (level == "avx512")
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq");
#endif
  return level == "baseline";
}

void add_level(py::module_& m, py::list& levels, const char* name, void (*bind)(py::module_&)) {
  py::module_ sub = m.def_submodule(name, "mfkit kernels compiled for one instruction-set level");
  bind(sub);
  levels.append(py::make_tuple(name, cpu_supports(name)));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mfkit compiled core (header-only C++ kernels exposed to Python)";
  m.attr("has_openmp") = mfkit::kHasOpenMP;
#if defined(_OPENMP)
  m.attr("openmp_version") = static_cast<int>(_OPENMP);
#else
  m.attr("openmp_version") = 0;
#endif
#if defined(__clang__)
  m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.attr("compiler") = "gcc " __VERSION__;
#elif defined(_MSC_VER)
  m.attr("compiler") = "msvc " + std::to_string(_MSC_VER);
#else
  m.attr("compiler") = "unknown";
#endif
#if defined(MFKIT_NATIVE_BUILD)
  m.attr("native_build") = true;
#else
  m.attr("native_build") = false;
#endif
  py::register_exception<mfkit::NumericalError>(m, "NumericalError", PyExc_ArithmeticError);

  py::list levels;
  add_level(m, levels, "baseline", &mfkit_bindings::baseline::bind_level);
#if defined(MFKIT_LEVEL_AVX2)
  add_level(m, levels, "avx2", &mfkit_bindings::avx2::bind_level);
#endif
#if defined(MFKIT_LEVEL_AVX512)
  add_level(m, levels, "avx512", &mfkit_bindings::avx512::bind_level);
#endif
  m.attr("levels") = levels;
}
