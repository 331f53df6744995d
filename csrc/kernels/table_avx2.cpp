// The avx2 kernel table. Compiled with the avx2 flags (see CMakeLists.txt).
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
}  // namespace avx2

const KernelTable& kernel_table_avx2() {
  static const KernelTable table{
      "avx2",
      &avx2::fma_peak_loop<avx2::F32>,
      {6, 16, &gemm_f32_6x16_avx2, &avx2::gemm_offset_b<avx2::F32, 6, 2>, &avx2::copy_runs<avx2::F32>, avx2::pool_kernels<float>(),
       {&avx2::winograd_f4x3_input<float>, &avx2::winograd_f4x3_output<float>,
        &avx2::winograd_f4x3_output_gradient<float>},
       {&avx2::winograd_f4x5_input<float>, &avx2::winograd_f4x5_output<float>,
        &avx2::winograd_f4x5_output_gradient<float>},
       {4, 16, &avx2::direct_conv_rows<float, 4, 16>},
       {16, 6, &avx2::direct_tile_rows<avx2::F32, 2, 6>, &avx2::direct_tile_rows_from<avx2::F32, 2, 6, true>, &avx2::direct_tile_store_transposed<avx2::F32>,
        &avx2::direct_tile_gather_lanes<avx2::F32>},
       {8, 12, &avx2::direct_tile_rows<avx2::F32, 1, 12>, &avx2::direct_tile_rows_from<avx2::F32, 1, 12, true>, &avx2::direct_tile_store_transposed<avx2::F32>,
        &avx2::direct_tile_gather_lanes<avx2::F32>},
       {16, 6, &avx2::direct_tile_rows<avx2::F32, 2, 6>, &avx2::direct_tile_rows_from<avx2::F32, 2, 6, true>, &avx2::direct_tile_store_transposed<avx2::F32>,
        &avx2::direct_tile_gather_lanes<avx2::F32>},
       4, &gemm_f32_4x16_avx2, &avx2::winograd_filter_transform<avx2::F32>, avx2::F32::width,
       {6, 2 * avx2::F32::width, &avx2::gemm_strided_b<avx2::F32, 6, 2>},
       {6, 2 * avx2::F32::width, &avx2::gemm_strided_b<avx2::F32, 6, 2>},
       {&avx2::winograd_f4x2_input<float>, &avx2::winograd_f4x2_output<float>, nullptr},
       &avx2::gemm_offset_b<avx2::F32, 4, 2>, &avx2::pack_rows_transposed<float>,
       {&avx2::winograd_f4x2_window_input<float>, &avx2::winograd_f4x2_phase_output<float>},
       &avx2::winograd_gradient_transform<float>,
       &avx2::gemm_offset_b_store<avx2::F32, 6, 2>, &avx2::gemm_offset_b_store<avx2::F32, 4, 2>,
       avx2::elementwise_kernels<float>()},
      {6, 8, &gemm_f64_6x8_avx2, &avx2::gemm_offset_b<avx2::F64, 6, 2>, &avx2::copy_runs<avx2::F64>, avx2::pool_kernels<double>(),
       {&avx2::winograd_f4x3_input<double>, &avx2::winograd_f4x3_output<double>,
        &avx2::winograd_f4x3_output_gradient<double>},
       {&avx2::winograd_f4x5_input<double>, &avx2::winograd_f4x5_output<double>,
        &avx2::winograd_f4x5_output_gradient<double>},
       {2, 16, &avx2::direct_conv_rows<double, 2, 16>},
       {8, 6, &avx2::direct_tile_rows<avx2::F64, 2, 6>, &avx2::direct_tile_rows_from<avx2::F64, 2, 6, true>, &avx2::direct_tile_store_transposed<avx2::F64>,
        &avx2::direct_tile_gather_lanes<avx2::F64>},
       {4, 12, &avx2::direct_tile_rows<avx2::F64, 1, 12>, &avx2::direct_tile_rows_from<avx2::F64, 1, 12, true>, &avx2::direct_tile_store_transposed<avx2::F64>,
        &avx2::direct_tile_gather_lanes<avx2::F64>},
       {8, 6, &avx2::direct_tile_rows<avx2::F64, 2, 6>, &avx2::direct_tile_rows_from<avx2::F64, 2, 6, true>, &avx2::direct_tile_store_transposed<avx2::F64>,
        &avx2::direct_tile_gather_lanes<avx2::F64>},
       4, &gemm_f64_4x8_avx2, &avx2::winograd_filter_transform<avx2::F64>, avx2::F64::width,
       {6, 2 * avx2::F64::width, &avx2::gemm_strided_b<avx2::F64, 6, 2>},
       {6, 2 * avx2::F64::width, &avx2::gemm_strided_b<avx2::F64, 6, 2>},
       {&avx2::winograd_f4x2_input<double>, &avx2::winograd_f4x2_output<double>, nullptr},
       &avx2::gemm_offset_b<avx2::F64, 4, 2>, &avx2::pack_rows_transposed<double>,
       {&avx2::winograd_f4x2_window_input<double>, &avx2::winograd_f4x2_phase_output<double>},
       &avx2::winograd_gradient_transform<double>,
       &avx2::gemm_offset_b_store<avx2::F64, 6, 2>, &avx2::gemm_offset_b_store<avx2::F64, 4, 2>,
       avx2::elementwise_kernels<double>()},
  };
  return table;
}

}  // namespace fastcnn
