// The kernels compiled with the build's own flags: the portable x86-64 / aarch64 baseline, or
// -march=native when MFKIT_NATIVE is on.
#define MFKIT_LEVEL baseline
#include "level_prelude.hpp"
#include "level_bindings.hpp"
