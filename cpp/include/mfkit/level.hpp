// The instruction-set level the compute headers are compiled for.
//
// The Python extension compiles every compute header several times into one binary (baseline,
// AVX2+FMA, AVX-512; see cpp/bindings/level_*.cpp) and picks one copy at import. Templates and
// inline functions have "vague linkage": the linker keeps one copy per symbol name, so copies
// compiled for different instruction sets must have different names, or a baseline CPU could end
// up running AVX-512 code. Each copy therefore lives in its own inline namespace, named by
// MFKIT_LEVEL (mfkit::avx2::als_half_sweep, ...); code that simply includes the headers never
// sees it and writes mfkit::als_half_sweep.
#pragma once

#ifndef MFKIT_LEVEL
#define MFKIT_LEVEL baseline
#endif

#define MFKIT_LEVEL_BEGIN inline namespace MFKIT_LEVEL {
#define MFKIT_LEVEL_END }

// Whether this copy targets CPUs with AVX2 or AVX-512 (16-32 vector registers of 256-512 bits),
// where register-blocked kernels pay off; the AVX2 and AVX-512 level files set it, and the
// compiler's own flags do for -march=native builds. Selects code paths, never results' meaning.
#ifndef MFKIT_WIDE_VECTORS
#if defined(__AVX2__)
#define MFKIT_WIDE_VECTORS 1
#else
#define MFKIT_WIDE_VECTORS 0
#endif
#endif
