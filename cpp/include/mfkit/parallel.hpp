// Thin OpenMP layer: the core builds and runs serially when OpenMP is unavailable.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace mfkit {

constexpr bool kHasOpenMP =
#if defined(_OPENMP)
    true;
#else
    false;
#endif

// Thread count for a parallel region: the caller resolves "all cores" in Python and passes an
// explicit count; anything below 1 means one thread.
inline int clamp_threads(int num_threads) { return num_threads < 1 ? 1 : num_threads; }

// Threads for a region of about `flops` work: one when the work is too small to repay waking
// a team (microseconds per region, far more when the cores are busy with other processes).
inline int threads_for(double flops, int num_threads) {
  return flops < 1e6 ? 1 : clamp_threads(num_threads);
}

}  // namespace mfkit
