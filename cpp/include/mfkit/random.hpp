// Small seeded random number generators: the same seed gives the same numbers on every platform
// and compiler (no std:: distributions, whose output is implementation-defined). The pure-numpy
// twin (python/mfkit/reference/random.py) reproduces them bit for bit.
//
// - SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number generators",
//   OOPSLA 2014) expands one 64-bit seed into generator states.
// - xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
//   ACM TOMS 2021) is the generator itself: 256 bits of state, period 2^256 - 1.
// - Bounded integers in [0, n) by Lemire's multiply-shift with rejection ("Fast random integer
//   generation in an interval", ACM TOMACS 2019): exactly uniform, almost never more than one
//   64-bit draw.
#pragma once

#include <cstdint>

#include "mfkit/level.hpp"

namespace mfkit {
MFKIT_LEVEL_BEGIN

// One SplitMix64 step: advances `state` and returns the next output.
inline uint64_t splitmix64_next(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The seed of sub-stream `stream` of `seed`: the seed XOR a SplitMix64 hash of the stream
// number, so that neighbouring streams start far apart.
inline uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  uint64_t s = stream;
  return seed ^ splitmix64_next(s);
}

// High and low 64-bit halves of the 128-bit product a * b.
inline void multiply_64x64(uint64_t a, uint64_t b, uint64_t& high, uint64_t& low) {
#if defined(__SIZEOF_INT128__)
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  high = static_cast<uint64_t>(p >> 64);
  low = static_cast<uint64_t>(p);
#else
  const uint64_t a_lo = a & 0xFFFFFFFFULL, a_hi = a >> 32;
  const uint64_t b_lo = b & 0xFFFFFFFFULL, b_hi = b >> 32;
  const uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
  const uint64_t hi_hi = a_hi * b_hi;
  const uint64_t middle = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFULL) + lo_hi;
  high = hi_hi + (hi_lo >> 32) + (middle >> 32);
  low = (middle << 32) | (lo_lo & 0xFFFFFFFFULL);
#endif
}

// Uniform integer in [0, n) for n >= 1 from a generator's 64-bit outputs (Lemire 2019): the high
// half of next() * n, redrawn while the low half falls in the (2^64 mod n)-sized biased zone.
template <class Generator>
inline uint64_t uniform_below(Generator& generator, uint64_t n) {
  uint64_t high, low;
  multiply_64x64(generator.next(), n, high, low);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    while (low < threshold) multiply_64x64(generator.next(), n, high, low);
  }
  return high;
}

// SplitMix64 used directly as a generator (the explicit-MF shuffle's per-block streams).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() { return splitmix64_next(state_); }
  uint64_t below(uint64_t n) { return uniform_below(*this, n); }

 private:
  uint64_t state_;
};

// xoshiro256**, its state filled from a seed by four SplitMix64 outputs.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed = 0) {
    uint64_t sm = seed;
    for (uint64_t& word : s_) word = splitmix64_next(sm);
  }

  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  uint64_t below(uint64_t n) { return uniform_below(*this, n); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

MFKIT_LEVEL_END
}  // namespace mfkit
