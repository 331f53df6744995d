// The ElementwiseKernels table entry of one ISA (kernel_table.h).
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace, after
// kernel_table.h and <cmath>.

#include "batch_norm_impl.h"
#include "activation_impl.h"
#include "optimizer_impl.h"
#include "gemv_impl.h"

// The memory-bound passes of elementwise/, instantiated for this ISA, field
// by field.
template <typename T>
ElementwiseKernels<T> elementwise_kernels() {
  ElementwiseKernels<T> k{};
  // Batch normalisation: moments, apply, gradient moments, gradient apply;
  // channels-first runs and channels-last rows.
  k.bn_moments_run = &bn_moments_run<T>;
  k.bn_moments_rows = &bn_moments_rows<T>;
  k.bn_apply_run = &bn_apply_run<T>;
  k.bn_apply_rows = &bn_apply_rows<T>;
  k.bn_gradient_moments_run = &bn_gradient_moments_run<T>;
  k.bn_gradient_moments_rows = &bn_gradient_moments_rows<T>;
  k.bn_gradient_apply_run = &bn_gradient_apply_run<T>;
  k.bn_gradient_apply_rows = &bn_gradient_apply_rows<T>;
  // Activations, softmax, dropout.
  k.activation_forward = &activation_forward<T>;
  k.activation_backward = &activation_backward<T>;
  k.softmax_rows = &softmax_rows<T>;
  k.softmax_backward_rows = &softmax_backward_rows<T>;
  k.dropout_apply = &dropout_apply<T>;
  // Optimizer update rules.
  k.optimizer_update = &optimizer_update<T>;
  // Products with B read in place.
  k.gemv_rows = &gemv_rows<T>;
  return k;
}
