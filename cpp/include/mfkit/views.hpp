// Non-owning views over caller-owned memory: the core never allocates the user's data.
#pragma once

#include <cstdint>
#include <string>

#include "mfkit/errors.hpp"

namespace mfkit {

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
};

// Row-major dense matrix; row r starts at ptr + r * cols.
template <class Scalar>
struct DenseView {
  int64_t rows = 0;
  int64_t cols = 0;
  Scalar* ptr = nullptr;

  Scalar* row(int64_t r) const { return ptr + r * cols; }
};

}  // namespace mfkit
