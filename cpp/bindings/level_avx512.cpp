// The kernels for x86-64 CPUs with AVX-512 F/CD/VL/BW/DQ (x86-64-v4: Skylake-X, Ice Lake, Zen 4
// and later).
#define MFKIT_LEVEL avx512
#define MFKIT_WIDE_VECTORS 1
#include "level_prelude.hpp"

// clang-format off: the instruction-set pragmas stay on their lines as written
#if defined(__clang__)
#pragma clang attribute push(                                                               \
    __attribute__((target("avx512f,avx512cd,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,lzcnt,popcnt,f16c,movbe,sse4.2"))), \
    apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512cd,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,lzcnt,popcnt,f16c,movbe,sse4.2")
#endif
// clang-format on

#include "level_bindings.hpp"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
