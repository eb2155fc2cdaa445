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

// Work below which a parallel region runs on one thread: waking a team costs microseconds per
// region, far more when the cores are busy with other processes.
constexpr double kTeamMinFlops = 1e6;

// The same for the sparse products and the NMF solvers, which run one region per sweep, hundreds
// of sweeps in a transform: a team only from ~2·10⁷ flops (a few ms on one core), since each
// region ends in a barrier, which on a busy machine can cost a scheduler time slice, far more
// than a small region gains from a second thread.
constexpr double kSweepMinFlops = 2e7;

// Threads for a region of about `flops` work: one below `min_flops`, else num_threads.
inline int threads_for(double flops, int num_threads, double min_flops = kTeamMinFlops) {
  return flops < min_flops ? 1 : clamp_threads(num_threads);
}

}  // namespace mfkit
