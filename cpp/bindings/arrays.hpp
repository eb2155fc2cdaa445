// Array conversion shared by the binding files: numpy arrays -> the core's non-owning views.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>

#include "mfkit/level.hpp"
#include "mfkit/views.hpp"

namespace mfkit_bindings {

namespace py = pybind11;

template <class T>
using InArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Read-only inputs may be converted; outputs written in place must already be the right dtype,
// C-contiguous and writeable, otherwise the writes would land in a temporary copy.
template <class T>
mfkit::DenseView<T> output_matrix(py::array& array, const char* name) {
  if (!py::isinstance<py::array_t<T>>(array) || array.ndim() != 2 ||
      !(array.flags() & py::array::c_style) || !array.writeable())
    throw std::invalid_argument(std::string(name) +
                                " must be a writeable C-contiguous 2-D array of the model dtype");
  return {array.shape(0), array.shape(1), static_cast<T*>(array.mutable_data())};
}

// A 1-D output written in place (the same rules as output_matrix), of the given length.
template <class T>
T* output_vector(py::array& array, int64_t length, const char* name) {
  if (!py::isinstance<py::array_t<T>>(array) || array.ndim() != 1 ||
      !(array.flags() & py::array::c_style) || !array.writeable() || array.shape(0) != length)
    throw std::invalid_argument(std::string(name) +
                                " must be a writeable C-contiguous 1-D array "
                                "of the right dtype with " +
                                std::to_string(length) + " entries");
  return static_cast<T*>(array.mutable_data());
}

template <class T>
const T* input_vector(const InArray<T>& array, int64_t length, const char* name) {
  if (array.ndim() != 1 || array.shape(0) != length)
    throw std::invalid_argument(std::string(name) + " must be 1-D of length " +
                                std::to_string(length));
  return array.data();
}

template <class T>
mfkit::DenseView<const T> input_matrix(const InArray<T>& array, const char* name) {
  if (array.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
  return {array.shape(0), array.shape(1), array.data()};
}

template <class T>
mfkit::CsrView<T> csr(const InArray<int64_t>& indptr, const InArray<int32_t>& indices,
                      const InArray<T>& data, int64_t cols) {
  if (indptr.ndim() != 1 || indices.ndim() != 1 || data.ndim() != 1 || indptr.size() < 1)
    throw std::invalid_argument("user_items: indptr, indices and data must be 1-D");
  const int64_t rows = indptr.size() - 1;
  const int64_t nnz = indptr.at(rows);
  if (indices.size() < nnz || data.size() < nnz || nnz < 0)
    throw std::invalid_argument("user_items: indptr[-1] exceeds the length of indices/data");
  return {rows, cols, indptr.data(), indices.data(), data.data()};
}

// A new rows x cols array filled by fill(pointer) with the GIL released.
template <class T, class Fill>
py::array_t<T> new_matrix(int64_t rows, int64_t cols, Fill&& fill) {
  py::array_t<T> out({rows, cols});
  T* ptr = out.mutable_data();
  {
    py::gil_scoped_release release;
    fill(ptr);
  }
  return out;
}

// The value named by `text` among `choices`; otherwise std::invalid_argument
// "<name> must be 'a' or 'b', got '<text>'".
template <class E>
E parse_choice(const std::string& text, const char* name,
               std::initializer_list<std::pair<const char*, E>> choices) {
  std::string names;
  size_t listed = 0;
  for (const auto& choice : choices) {
    if (text == choice.first) return choice.second;
    ++listed;
    names += listed == 1 ? "" : listed == choices.size() ? " or " : ", ";
    names += "'" + std::string(choice.first) + "'";
  }
  throw std::invalid_argument(std::string(name) + " must be " + names + ", got '" + text + "'");
}

}  // namespace mfkit_bindings
