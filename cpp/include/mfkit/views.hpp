// Non-owning views over caller-owned memory: the core never allocates the user's data.
#pragma once

#include <cstdint>
#include <string>

#include "mfkit/errors.hpp"

namespace mfkit {

// Python validates every matrix once, at the boundary (mfkit/_validation.py), and the kernels
// trust the views they get. Debug builds (-DMFKIT_DEBUG_CHECKS) re-check them in every call.
constexpr bool kDebugChecks =
#if defined(MFKIT_DEBUG_CHECKS)
    true;
#else
    false;
#endif

// Compressed sparse rows: row r holds entries indptr[r] .. indptr[r+1]-1.
template <class Scalar>
struct CsrView {
  int64_t rows = 0;
  int64_t cols = 0;
  const int64_t* indptr = nullptr;
  const int32_t* indices = nullptr;
  const Scalar* data = nullptr;

  int64_t nnz() const { return rows > 0 ? indptr[rows] : 0; }

  // O(rows + nnz) structural check so that a bad matrix is an error, never a wild read.
  void validate(const char* name) const {
    const std::string n(name);
    require(rows >= 0 && cols >= 0, n + ": negative shape");
    require(indptr != nullptr && indptr[0] == 0, n + ": indptr[0] must be 0");
    bool ordered = true;
    for (int64_t r = 0; r < rows; ++r) ordered = ordered && indptr[r] <= indptr[r + 1];
    require(ordered, n + ": indptr must be non-decreasing");
    const int64_t count = nnz();
    bool in_range = true;
    for (int64_t e = 0; e < count; ++e) in_range = in_range && indices[e] >= 0 && indices[e] < cols;
    require(in_range, n + ": column index out of range");
  }

  // validate() in debug builds only (see kDebugChecks).
  void debug_validate(const char* name) const {
    if (kDebugChecks) validate(name);
  }
};

// Row-major dense matrix; row r starts at ptr + r * cols.
template <class Scalar>
struct DenseView {
  int64_t rows = 0;
  int64_t cols = 0;
  Scalar* ptr = nullptr;

  Scalar* row(int64_t r) const { return ptr + r * cols; }
};

// The error messages of check_solve_shapes, in the model's own terms.
struct SolveShapeMessages {
  const char* no_factors;  // the fixed factors have no columns
  const char* factors;     // solved and fixed factors differ in columns
  const char* rows;        // R has not one row per solved row
  const char* fixed_rows;  // R has not one column per fixed row
};

// O(1) shape checks of a row solve: the x_rows x x_cols factors solved from R, one row per row
// of R, with `fixed` (one row per column of R, x_cols >= 1 columns) held constant.
template <class Scalar, class Fixed>
void check_solve_shapes(const CsrView<Scalar>& R, const DenseView<Fixed>& fixed, int64_t x_rows,
                        int64_t x_cols, const SolveShapeMessages& messages) {
  require(fixed.cols >= 1, messages.no_factors);
  require(x_cols == fixed.cols, messages.factors);
  require(R.rows == x_rows, messages.rows);
  require(R.cols == fixed.rows, messages.fixed_rows);
}

}  // namespace mfkit
