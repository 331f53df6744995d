// Dense matrix product on the GEMM microkernels: the Dense (linear) layer's
// forward and both gradients, which are plain GEMMs, not convolutions.
#pragma once
#include <cstdint>

namespace fastcnn {

// A strided view of a matrix: element (i, j) at data[i * row + j * col]
// (NumPy's strides in elements: transposes and slices are views).
template <typename T>
struct MatrixView {
  T* data;
  int64_t row, col;
};

// c (m x n) = a (m x k) * b (k x n). c must not overlap a or b.
template <typename T>
void matmul(int64_t m, int64_t n, int64_t k, MatrixView<const T> a, MatrixView<const T> b, MatrixView<T> c);

}  // namespace fastcnn
