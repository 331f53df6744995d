// The generic kernel table. Compiled with the generic flags (see CMakeLists.txt).
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
}  // namespace generic

const KernelTable& kernel_table_generic() {
  static const KernelTable table{
      "generic",
      &generic::fma_peak_loop_portable,
      {4, 8, &gemm_f32_4x8_generic, &generic::gemm_offset_b<generic::ScalarTrait<float>, 4, 8>, &generic::copy_runs_portable<float>, generic::pool_kernels<float>(),
       {&generic::winograd_f4x3_input<float>, &generic::winograd_f4x3_output<float>,
        &generic::winograd_f4x3_output_gradient<float>},
       {&generic::winograd_f4x5_input<float>, &generic::winograd_f4x5_output<float>,
        &generic::winograd_f4x5_output_gradient<float>},
       {2, 16, &generic::direct_conv_rows<float, 2, 16>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<float>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<float>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<float>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<float>>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<float>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<float>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<float>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<float>>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<float>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<float>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<float>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<float>>},
       4, &gemm_f32_4x8_generic, &generic::winograd_filter_transform<generic::ScalarTrait<float>>, 1,
       {4, 8, &generic::gemm_strided_b<generic::ScalarTrait<float>, 4, 8>},
       {4, 8, &generic::gemm_strided_b<generic::ScalarTrait<float>, 4, 8>},
       {&generic::winograd_f4x2_input<float>, &generic::winograd_f4x2_output<float>, nullptr},
       &generic::gemm_offset_b<generic::ScalarTrait<float>, 4, 8>, &generic::pack_rows_transposed<float>,
       {&generic::winograd_f4x2_window_input<float>, &generic::winograd_f4x2_phase_output<float>},
       &generic::winograd_gradient_transform<float>, nullptr, nullptr,
       generic::elementwise_kernels<float>()},
      {4, 4, &gemm_f64_4x4_generic, &generic::gemm_offset_b<generic::ScalarTrait<double>, 4, 4>, &generic::copy_runs_portable<double>, generic::pool_kernels<double>(),
       {&generic::winograd_f4x3_input<double>, &generic::winograd_f4x3_output<double>,
        &generic::winograd_f4x3_output_gradient<double>},
       {&generic::winograd_f4x5_input<double>, &generic::winograd_f4x5_output<double>,
        &generic::winograd_f4x5_output_gradient<double>},
       {2, 16, &generic::direct_conv_rows<double, 2, 16>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<double>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<double>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<double>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<double>>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<double>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<double>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<double>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<double>>},
       {4, 4, &generic::direct_tile_rows<generic::ScalarTrait<double>, 4, 4>, &generic::direct_tile_rows_from<generic::ScalarTrait<double>, 4, 4, true>, &generic::direct_tile_store_transposed<generic::ScalarTrait<double>>,
        &generic::direct_tile_gather_lanes<generic::ScalarTrait<double>>},
       4, &gemm_f64_4x4_generic, &generic::winograd_filter_transform<generic::ScalarTrait<double>>, 1,
       {4, 4, &generic::gemm_strided_b<generic::ScalarTrait<double>, 4, 4>},
       {4, 4, &generic::gemm_strided_b<generic::ScalarTrait<double>, 4, 4>},
       {&generic::winograd_f4x2_input<double>, &generic::winograd_f4x2_output<double>, nullptr},
       &generic::gemm_offset_b<generic::ScalarTrait<double>, 4, 4>, &generic::pack_rows_transposed<double>,
       {&generic::winograd_f4x2_window_input<double>, &generic::winograd_f4x2_phase_output<double>},
       &generic::winograd_gradient_transform<double>, nullptr, nullptr,
       generic::elementwise_kernels<double>()},
  };
  return table;
}

}  // namespace fastcnn
