// Everything the per-level translation units include *before* switching the instruction set.
//
// A level file (level_avx2.cpp, ...) turns on its instruction set with a pragma that applies to
// every function defined after it. Standard-library, pybind11 and the level-independent mfkit
// headers must be parsed before that pragma, so their (shared, vague-linkage) functions are
// compiled for the baseline CPU in every translation unit; tests/test_simd_levels.py checks that
// each header the kernels include is listed here.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.hpp"
#include "mfkit/errors.hpp"
#include "mfkit/fp_env.hpp"
#include "mfkit/level.hpp"
#include "mfkit/parallel.hpp"
#include "mfkit/views.hpp"
