// The kernels for x86-64 CPUs with AVX2, FMA and the rest of x86-64-v3 (BMI1/2, LZCNT, POPCNT,
// F16C, MOVBE): Haswell, Zen and later.
#define MFKIT_LEVEL avx2
#define MFKIT_WIDE_VECTORS 1
#include "level_prelude.hpp"

// clang-format off: the instruction-set pragmas stay on their lines as written
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,lzcnt,popcnt,f16c,movbe,sse4.2"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi,bmi2,lzcnt,popcnt,f16c,movbe,sse4.2")
#endif
// clang-format on

#include "level_bindings.hpp"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
