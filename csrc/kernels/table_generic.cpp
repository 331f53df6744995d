// The generic kernel table. Compiled with the generic flags (see CMakeLists.txt).
//
// Each field of Kernels<T> (kernel_table.h) is set by name, family by
// family; check_kernel_table rejects a table that leaves one unset.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "gemm/gemm_microkernel.h"
#include "kernel_table.h"

namespace fastcnn {

void gemm_f32_4x8_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate);
void gemm_f64_4x4_generic(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate);

namespace generic {
#include "pool/pool2d_impl.h"
#include "peak/fma_peak.h"
#include "pack/copy_runs.h"
#include "pack/pack_rows_transposed.h"
#include "winograd/winograd_common.h"
#include "winograd/winograd_f4x3_impl.h"
#include "winograd/winograd_f4x5_impl.h"
#include "winograd/winograd_f4x2_impl.h"
#include "winograd/winograd_gradient_transform.h"
#include "direct/conv2d_direct_impl.h"
#include "direct/direct_tile_impl.h"
#include "gemm/gemm_strided_b_impl.h"
#include "gemm/gemm_offset_b_impl.h"
#include "elementwise/elementwise_kernels.h"
#include "table_entries.h"

// The kernels of one dtype on one-lane "vectors" (ScalarTrait): the
// compiler vectorises with whatever the baseline ISA offers.
template <typename T>
Kernels<T> kernels() {
  using S = ScalarTrait<T>;
  // Columns of the GEMM tiles: 8 floats, 4 doubles (one lane per "vector").
  constexpr int NR = std::is_same_v<T, float> ? 8 : 4;
  Kernels<T> k{};

  // GEMM microkernels and their tile sizes: 4 x NR, no narrower tile.
  k.gemm_mr = 4;
  k.gemm_nr = NR;
  k.gemm_narrow_mr = 4;
  if constexpr (std::is_same_v<T, float>) {
    k.gemm = &gemm_f32_4x8_generic;
    k.gemm_narrow = &gemm_f32_4x8_generic;
  } else {
    k.gemm = &gemm_f64_4x4_generic;
    k.gemm_narrow = &gemm_f64_4x4_generic;
  }

  // Offset-B (indirect) GEMM: the same tile, B rows read in place.
  k.gemm_offset_b = &gemm_offset_b<S, 4, NR>;
  k.gemm_offset_b_narrow = &gemm_offset_b<S, 4, NR>;
  k.gemm_offset_b_store = nullptr;  // optional: no masked stores
  k.gemm_offset_b_store_narrow = nullptr;

  // Strided-B GEMM.
  k.gemm_strided_b = gemm_strided_b_entry<S, 4, NR>();
  k.gemm_strided_b_narrow = gemm_strided_b_entry<S, 4, NR>();

  // Direct column kernel: 2 output channels x 16 columns.
  k.direct = direct_entry<T, 2, 16>();

  // Direct tiles: 4 lanes x 4 rows for all three.
  k.direct_tile = direct_tile_entry<S, 4, 4>();
  k.direct_tile_narrow = direct_tile_entry<S, 4, 4>();
  k.direct_tile_wide = direct_tile_entry<S, 4, 4>();

  // Winograd transforms.
  k.winograd_f4x3.input = &winograd_f4x3_input<T>;
  k.winograd_f4x3.output = &winograd_f4x3_output<T>;
  k.winograd_f4x3.output_gradient = &winograd_f4x3_output_gradient<T>;
  k.winograd_f4x5.input = &winograd_f4x5_input<T>;
  k.winograd_f4x5.output = &winograd_f4x5_output<T>;
  k.winograd_f4x5.output_gradient = &winograd_f4x5_output_gradient<T>;
  k.winograd_f4x2.input = &winograd_f4x2_input<T>;
  k.winograd_f4x2.output = &winograd_f4x2_output<T>;
  k.winograd_f4x2.output_gradient = nullptr;  // optional: no F(4x4, 2x2) weight gradient
  k.winograd_f4x2_dx.input = &winograd_f4x2_window_input<T>;
  k.winograd_f4x2_dx.output = &winograd_f4x2_phase_output<T>;
  // Filter and gradient transforms.
  k.winograd_filter = &winograd_filter_transform<S>;
  k.filter_width = 1;
  k.winograd_gradient_transform = &winograd_gradient_transform<T>;

  // Pooling.
  k.pool = pool_kernels<T>();

  // Elementwise passes.
  k.elementwise = elementwise_kernels<T>();

  // Packers.
  k.copy_runs = &copy_runs_portable<T>;
  k.pack_rows_transposed = &pack_rows_transposed<T>;
  return k;
}

KernelTable table() {
  KernelTable t{};
  t.isa = "generic";
  t.fma_peak = &fma_peak_loop_portable;
  t.f32 = kernels<float>();
  t.f64 = kernels<double>();
  return t;
}
}  // namespace generic

const KernelTable& kernel_table_generic() {
  static const KernelTable table = check_kernel_table(generic::table());
  return table;
}

}  // namespace fastcnn
