// The floating-point environment of a thread: subnormal numbers flushed to zero for a scope.
// Level-independent (compiled once, for the baseline CPU; see level.hpp).
#pragma once

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define MFKIT_MXCSR 1
#endif

namespace mfkit {

// Subnormal numbers flushed to zero (x86 MXCSR FTZ and DAZ) for the lifetime of the guard, on
// the calling thread; the previous mode is restored afterwards. Multiplicative updates shrink
// entries that should be 0 geometrically, and products of small factors underflow: without this
// a fit slows down about twofold after a few dozen iterations (subnormal arithmetic takes
// microcode assists). Results differ only by amounts below the smallest normal number
// (1.2e-38 in float32, 2.2e-308 in float64). Every parallel region of the NMF kernels and the
// sparse products opens one per thread, and every public function one for its calling thread.
class FlushSubnormals {
 public:
  FlushSubnormals() {
#if defined(MFKIT_MXCSR)
    saved_ = _mm_getcsr();
    _mm_setcsr(saved_ | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
#endif
  }
  ~FlushSubnormals() {
#if defined(MFKIT_MXCSR)
    _mm_setcsr(saved_);
#endif
  }
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
};

}  // namespace mfkit
