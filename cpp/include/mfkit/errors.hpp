// Exceptions thrown by the mfkit core and a helper that carries the first exception out of an
// OpenMP parallel region (an exception escaping a region terminates the process).
#pragma once

#include <cmath>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>

namespace mfkit {

// A numerical failure (e.g. a matrix that should be positive definite is not). Bad arguments
// use std::invalid_argument instead.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline void require(bool condition, const std::string& message) {
  if (!condition) throw std::invalid_argument(message);
}

// Requires a finite value >= 0 (a penalty, a weight): "<name> must be a finite number >= 0".
template <class T>
inline void require_finite_nonnegative(T value, const char* name) {
  if (!(value >= T(0) && std::isfinite(value)))
    throw std::invalid_argument(std::string(name) + " must be a finite number >= 0");
}

// Runs callables inside a parallel region, keeping the first exception; rethrow() re-raises it
// once the region has ended. failed() lets the remaining iterations skip their work.
class ErrorCollector {
 public:
  template <class F>
  void run(F&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
  bool failed() const noexcept { return failed_; }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_;
  volatile bool failed_ = false;
};

}  // namespace mfkit
