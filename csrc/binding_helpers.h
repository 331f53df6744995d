// Helpers shared by the pybind11 glue files: dtype and layout checks and
// result allocation (through the output block cache, output_buffer.h).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "ops/output_buffer.h"

namespace fastcnn {
namespace binding {

namespace py = pybind11;

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// The array as C-contiguous float32 or float64; anything else is a TypeError.
inline void require_float(const py::array& a, const char* name) {
  const bool f32 = a.dtype().is(py::dtype::of<float>());
  const bool f64 = a.dtype().is(py::dtype::of<double>());
  if (!f32 && !f64)
    throw py::type_error(std::string(name) + " must be float32 or float64, got dtype " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
  // NumPy can hand out views at any byte offset; the kernels load whole elements.
  if (reinterpret_cast<uintptr_t>(a.data()) % a.itemsize())
    throw py::value_error(std::string(name) + " must be aligned to its element size");
}

inline void require_same_dtype(const py::array& a, const char* an, const py::array& b, const char* bn) {
  if (!a.dtype().is(b.dtype()))
    throw py::type_error(std::string(an) + " and " + bn + " must share a dtype, got " +
                         std::string(py::str(a.dtype())) + " and " + std::string(py::str(b.dtype())));
}

inline bool is_f32(const py::array& a) { return a.dtype().is(py::dtype::of<float>()); }

// Index and weight tables (resampling): pybind11 converts other dtypes and
// layouts into a C-contiguous copy; alignment is checked where they are read.
using IndexTable = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using WeightTable = py::array_t<double, py::array::c_style | py::array::forcecast>;

inline bool aligned(const py::array& a) { return reinterpret_cast<uintptr_t>(a.data()) % a.itemsize() == 0; }

template <typename T>
py::array_t<T> empty(const std::vector<int64_t>& shape) {
  // Sizes come from arguments as well as arrays: bound the byte count before
  // pybind11 multiplies them into strides (signed overflow otherwise).
  const int64_t limit = (int64_t{1} << 62) / int64_t(sizeof(T));
  int64_t total = 1;
  for (int64_t d : shape) {
    if (d < 0) throw py::value_error("negative size in the result shape");
    if (d > limit || (d != 0 && total > limit / d))
      throw py::value_error("result of " + std::to_string(shape.size()) +
                            "-D shape would have too many elements to index");
    total *= d;
  }
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  const size_t bytes = size_t(total) * sizeof(T);
  if (bytes < kOutputCacheMinBytes) return py::array_t<T>(s);
  // The array's base owns the block and returns it to the cache.
  auto* block = new OutputBlock(take_output_block(bytes));
  py::capsule owner(block, [](void* p) {
    auto* b = static_cast<OutputBlock*>(p);
    give_output_block(*b);
    delete b;
  });
  return py::array_t<T>(s, static_cast<T*>(block->data), owner);
}

// An activation by its Python name; `fusable_only` admits only those the
// batch norm and conv stores fuse (identity, relu, leaky_relu).
inline Activation activation_named(const std::string& name, bool fusable_only) {
  if (name == "identity" || name == "linear") return Activation::identity;
  if (name == "relu") return Activation::relu;
  if (name == "leaky_relu") return Activation::leaky_relu;
  if (!fusable_only) {
    if (name == "sigmoid") return Activation::sigmoid;
    if (name == "tanh") return Activation::tanh;
  }
  throw py::value_error("activation must be one of 'identity', 'relu', 'leaky_relu'" +
                        std::string(fusable_only ? "" : ", 'sigmoid', 'tanh'") + ", got '" + name + "'");
}

template <typename T>
const T* data(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <typename T>
T* mutable_data(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

}  // namespace binding

// Adds the inference plan class (bindings_plan.cpp).
void bind_plan(pybind11::module_& m);

// Adds the elementwise ops (batch norm, activations, softmax, dropout,
// softmax cross-entropy) to the module (bindings_elementwise.cpp).
void bind_elementwise(pybind11::module_& m);

// Adds the data augmentation ops (bindings_augment.cpp).
void bind_augment(pybind11::module_& m);

// Adds the separable resampling op under upsample2d and pad2d
// (bindings_resample.cpp).
void bind_resample(pybind11::module_& m);

// One axis' index tables as the resampling op takes them, checked against
// the input's size along that axis (`name` names the axis in errors).
struct ResampleAxis;
ResampleAxis resample_axis_from(const binding::IndexTable& lo, const binding::IndexTable& hi,
                                const binding::WeightTable& weight, int64_t in_size, bool bilinear, const char* name);

// Adds the kernel tester's private bindings, _kernel_table and _test_*
// (bindings_kernel_test.cpp).
void bind_kernel_test(pybind11::module_& m);

}  // namespace fastcnn
