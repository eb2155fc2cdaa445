"""The C++ core's seeded generators in plain Python (cpp/include/mfkit/random.hpp), bit for bit.

- SplitMix64 (Steele, Lea & Flood, OOPSLA 2014) expands a 64-bit seed into generator states;
- xoshiro256** (Blackman & Vigna, ACM TOMS 2021) is the generator;
- SplitMix64 on its own is the generator of the explicit-MF shuffle;
- ``below(n)``: a uniform integer in ``[0, n)`` by Lemire's multiply-shift with rejection
  (ACM TOMACS 2019), exactly uniform.

Python integers are unbounded, so every 64-bit operation is masked explicitly.
"""
from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def splitmix64_outputs(state: int, count: int) -> list:
    """The next ``count`` SplitMix64 outputs from ``state``."""
    out = []
    for _ in range(count):
        state = (state + GOLDEN) & MASK64
        out.append(_mix(state))
    return out


def stream_seed(seed: int, stream: int) -> int:
    """Seed of sub-stream ``stream``: ``seed`` XOR a SplitMix64 hash of the stream number."""
    return (seed & MASK64) ^ splitmix64_outputs(stream & MASK64, 1)[0]


def uniform_below(next_output, n: int) -> int:
    """Uniform integer in ``[0, n)``, ``n >= 1``, from a generator's 64-bit outputs
    (``next_output()``): Lemire's multiply-shift with rejection (2019)."""
    product = next_output() * n
    low = product & MASK64
    if low < n:
        threshold = ((1 << 64) - n) % n
        while low < threshold:
            product = next_output() * n
            low = product & MASK64
    return product >> 64


class SplitMix64:
    """SplitMix64 used directly as a generator (the explicit-MF shuffle's per-block streams)."""

    __slots__ = ("state",)

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + GOLDEN) & MASK64
        return _mix(self.state)

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)``, ``n >= 1``."""
        return uniform_below(self.next, n)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256:
    """xoshiro256**, its state filled by four SplitMix64 outputs of ``seed``."""

    __slots__ = ("s",)

    def __init__(self, seed: int = 0):
        self.s = splitmix64_outputs(seed & MASK64, 4)

    def next(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)``, ``n >= 1``."""
        return uniform_below(self.next, n)
