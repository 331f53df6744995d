// The avx2 kernel table. Compiled with the avx2 flags (see CMakeLists.txt).
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
#include "simd.h"

namespace fastcnn {

void gemm_f32_6x16_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate);
void gemm_f64_6x8_avx2(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate);
void gemm_f32_4x16_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate);
void gemm_f64_4x8_avx2(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate);

namespace avx2 {
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

// The kernels of one dtype; S is its vector trait (8 floats or 4 doubles).
template <typename T>
Kernels<T> kernels() {
  using S = std::conditional_t<std::is_same_v<T, float>, F32, F64>;
  constexpr int W = S::width;
  Kernels<T> k{};

  // GEMM microkernels and their tile sizes: 6 x 2 vectors, narrow 4 x 2 vectors.
  k.gemm_mr = 6;
  k.gemm_nr = 2 * W;
  k.gemm_narrow_mr = 4;
  if constexpr (std::is_same_v<T, float>) {
    k.gemm = &gemm_f32_6x16_avx2;
    k.gemm_narrow = &gemm_f32_4x16_avx2;
  } else {
    k.gemm = &gemm_f64_6x8_avx2;
    k.gemm_narrow = &gemm_f64_4x8_avx2;
  }

  // Offset-B (indirect) GEMM: the same two tiles, B rows read in place.
  k.gemm_offset_b = &gemm_offset_b<S, 6, 2>;
  k.gemm_offset_b_narrow = &gemm_offset_b<S, 4, 2>;
  k.gemm_offset_b_store = &gemm_offset_b_store<S, 6, 2>;
  k.gemm_offset_b_store_narrow = &gemm_offset_b_store<S, 4, 2>;

  // Strided-B GEMM. The narrow entry is the main 6-row tile: 4 rows x 2
  // vectors are 8 accumulators, too few to cover the FMA latency.
  k.gemm_strided_b = gemm_strided_b_entry<S, 6, 2>();
  k.gemm_strided_b_narrow = gemm_strided_b_entry<S, 6, 2>();

  // Direct column kernel: 16 columns of 4 float / 2 double output channels.
  constexpr int kDirectCoBlock = std::is_same_v<T, float> ? 4 : 2;
  k.direct = direct_entry<T, kDirectCoBlock, 16>();

  // Direct tiles: main 2 vectors x 6 rows, narrow 1 x 12; no wide tile (the
  // main one serves).
  k.direct_tile = direct_tile_entry<S, 2, 6>();
  k.direct_tile_narrow = direct_tile_entry<S, 1, 12>();
  k.direct_tile_wide = direct_tile_entry<S, 2, 6>();

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
  k.filter_width = W;
  k.winograd_gradient_transform = &winograd_gradient_transform<T>;

  // Pooling.
  k.pool = pool_kernels<T>();

  // Elementwise passes.
  k.elementwise = elementwise_kernels<T>();

  // Packers.
  k.copy_runs = &copy_runs<S>;
  k.pack_rows_transposed = &pack_rows_transposed<T>;
  return k;
}

KernelTable table() {
  KernelTable t{};
  t.isa = "avx2";
  t.fma_peak = &fma_peak_loop<F32>;
  t.f32 = kernels<float>();
  t.f64 = kernels<double>();
  return t;
}
}  // namespace avx2

const KernelTable& kernel_table_avx2() {
  static const KernelTable table = check_kernel_table(avx2::table());
  return table;
}

}  // namespace fastcnn
