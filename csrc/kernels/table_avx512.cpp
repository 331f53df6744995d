// The avx512 kernel table. Compiled with the avx512 flags (see CMakeLists.txt).
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

void gemm_f32_12x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate);
void gemm_f64_12x16_avx512(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate);
void gemm_f32_8x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate);
void gemm_f64_8x16_avx512(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate);

namespace avx512 {
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
}  // namespace avx512

// Pooling takes the AVX2 loops: it is bound by memory, and GCC's 512-bit
// versions of the strided window loops are slower where 512-bit operations
// run as two 256-bit halves.
const KernelTable& kernel_table_avx512() {
  static const KernelTable table{
      "avx512",
      &avx512::fma_peak_loop<avx512::F32>,
      {12, 32, &gemm_f32_12x32_avx512, &avx512::gemm_offset_b<avx512::F32, 12, 2>, &avx512::copy_runs<avx512::F32>, kernel_table_avx2().f32.pool,
       {&avx512::winograd_f4x3_input<float>, &avx512::winograd_f4x3_output<float>,
        &avx512::winograd_f4x3_output_gradient<float>},
       {&avx512::winograd_f4x5_input<float>, &avx512::winograd_f4x5_output<float>,
        &avx512::winograd_f4x5_output_gradient<float>},
       {8, 32, &avx512::direct_conv_rows<float, 8, 32>},
       {32, 12, &avx512::direct_tile_rows<avx512::F32, 2, 12>, &avx512::direct_tile_rows_from<avx512::F32, 2, 12, true>, &avx512::direct_tile_store_transposed<avx512::F32>,
        &avx512::direct_tile_gather_lanes<avx512::F32>},
       {16, 24, &avx512::direct_tile_rows<avx512::F32, 1, 24>, &avx512::direct_tile_rows_from<avx512::F32, 1, 24, true>, &avx512::direct_tile_store_transposed<avx512::F32>,
        &avx512::direct_tile_gather_lanes<avx512::F32>},
       {64, 6, &avx512::direct_tile_rows<avx512::F32, 4, 6>, &avx512::direct_tile_rows_from<avx512::F32, 4, 6, true>, &avx512::direct_tile_store_transposed<avx512::F32>,
        &avx512::direct_tile_gather_lanes<avx512::F32>},
       8, &gemm_f32_8x32_avx512, &avx512::winograd_filter_transform<avx512::F32>, avx512::F32::width,
       {12, 2 * avx512::F32::width, &avx512::gemm_strided_b<avx512::F32, 12, 2>},
       {8, 2 * avx512::F32::width, &avx512::gemm_strided_b<avx512::F32, 8, 2>},
       {&avx512::winograd_f4x2_input<float>, &avx512::winograd_f4x2_output<float>, nullptr},
       &avx512::gemm_offset_b<avx512::F32, 8, 2>, kernel_table_avx2().f32.pack_rows_transposed,
       {&avx512::winograd_f4x2_window_input<float>, &avx512::winograd_f4x2_phase_output<float>},
       &avx512::winograd_gradient_transform<float>,
       &avx512::gemm_offset_b_store<avx512::F32, 12, 2>, &avx512::gemm_offset_b_store<avx512::F32, 8, 2>,
       avx512::elementwise_kernels<float>()},
      {12, 16, &gemm_f64_12x16_avx512, &avx512::gemm_offset_b<avx512::F64, 12, 2>, &avx512::copy_runs<avx512::F64>, kernel_table_avx2().f64.pool,
       {&avx512::winograd_f4x3_input<double>, &avx512::winograd_f4x3_output<double>,
        &avx512::winograd_f4x3_output_gradient<double>},
       {&avx512::winograd_f4x5_input<double>, &avx512::winograd_f4x5_output<double>,
        &avx512::winograd_f4x5_output_gradient<double>},
       {8, 16, &avx512::direct_conv_rows<double, 8, 16>},
       {16, 12, &avx512::direct_tile_rows<avx512::F64, 2, 12>, &avx512::direct_tile_rows_from<avx512::F64, 2, 12, true>, &avx512::direct_tile_store_transposed<avx512::F64>,
        &avx512::direct_tile_gather_lanes<avx512::F64>},
       {8, 24, &avx512::direct_tile_rows<avx512::F64, 1, 24>, &avx512::direct_tile_rows_from<avx512::F64, 1, 24, true>, &avx512::direct_tile_store_transposed<avx512::F64>,
        &avx512::direct_tile_gather_lanes<avx512::F64>},
       {32, 6, &avx512::direct_tile_rows<avx512::F64, 4, 6>, &avx512::direct_tile_rows_from<avx512::F64, 4, 6, true>, &avx512::direct_tile_store_transposed<avx512::F64>,
        &avx512::direct_tile_gather_lanes<avx512::F64>},
       8, &gemm_f64_8x16_avx512, &avx512::winograd_filter_transform<avx512::F64>, avx512::F64::width,
       {12, 2 * avx512::F64::width, &avx512::gemm_strided_b<avx512::F64, 12, 2>},
       {8, 2 * avx512::F64::width, &avx512::gemm_strided_b<avx512::F64, 8, 2>},
       {&avx512::winograd_f4x2_input<double>, &avx512::winograd_f4x2_output<double>, nullptr},
       &avx512::gemm_offset_b<avx512::F64, 8, 2>, kernel_table_avx2().f64.pack_rows_transposed,
       {&avx512::winograd_f4x2_window_input<double>, &avx512::winograd_f4x2_phase_output<double>},
       &avx512::winograd_gradient_transform<double>,
       &avx512::gemm_offset_b_store<avx512::F64, 12, 2>, &avx512::gemm_offset_b_store<avx512::F64, 8, 2>,
       avx512::elementwise_kernels<double>()},
  };
  return table;
}

}  // namespace fastcnn
