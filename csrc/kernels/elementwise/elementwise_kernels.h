// The ElementwiseKernels table entry of one ISA (kernel_table.h).
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace, after
// kernel_table.h and <cmath>.

#include "batch_norm_impl.h"
#include "activation_impl.h"
#include "optimizer_impl.h"
#include "gemv_impl.h"

// The memory-bound passes of elementwise/, instantiated for this ISA.
template <typename T>
ElementwiseKernels<T> elementwise_kernels() {
  return {&bn_moments_run<T>, &bn_moments_rows<T>, &bn_apply_run<T>, &bn_apply_rows<T>,
          &bn_gradient_moments_run<T>, &bn_gradient_moments_rows<T>, &bn_gradient_apply_run<T>,
          &bn_gradient_apply_rows<T>, &activation_forward<T>, &activation_backward<T>,
          &softmax_rows<T>, &softmax_backward_rows<T>, &dropout_apply<T>, &optimizer_update<T>,
          &gemv_rows<T>};
}
