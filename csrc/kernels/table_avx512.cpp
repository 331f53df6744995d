// The avx512 kernel table. Compiled with the avx512 flags (see CMakeLists.txt).
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
#include "table_entries.h"

// The kernels of one dtype; S is its vector trait (16 floats or 8 doubles).
template <typename T>
Kernels<T> kernels() {
  using S = std::conditional_t<std::is_same_v<T, float>, F32, F64>;
  constexpr int W = S::width;
  // Pooling and pack_rows_transposed take the AVX2 loops: they are bound by
  // memory, and GCC's 512-bit versions of the strided window loops are
  // slower where 512-bit operations run as two 256-bit halves.
  const Kernels<T>& avx2 = kernel_table_avx2().get<T>();
  Kernels<T> k{};

  // GEMM microkernels and their tile sizes: 12 x 2 vectors, narrow 8 x 2 vectors.
  k.gemm_mr = 12;
  k.gemm_nr = 2 * W;
  k.gemm_narrow_mr = 8;
  if constexpr (std::is_same_v<T, float>) {
    k.gemm = &gemm_f32_12x32_avx512;
    k.gemm_narrow = &gemm_f32_8x32_avx512;
  } else {
    k.gemm = &gemm_f64_12x16_avx512;
    k.gemm_narrow = &gemm_f64_8x16_avx512;
  }

  // Offset-B (indirect) GEMM: the same two tiles, B rows read in place.
  k.gemm_offset_b = &gemm_offset_b<S, 12, 2>;
  k.gemm_offset_b_narrow = &gemm_offset_b<S, 8, 2>;
  k.gemm_offset_b_store = &gemm_offset_b_store<S, 12, 2>;
  k.gemm_offset_b_store_narrow = &gemm_offset_b_store<S, 8, 2>;

  // Strided-B GEMM.
  k.gemm_strided_b = gemm_strided_b_entry<S, 12, 2>();
  k.gemm_strided_b_narrow = gemm_strided_b_entry<S, 8, 2>();

  // Direct column kernel: 8 output channels x 2 vectors of columns.
  k.direct = direct_entry<T, 8, 2 * W>();

  // Direct tiles: main 2 vectors x 12 rows, narrow 1 x 24, wide 4 x 6.
  k.direct_tile = direct_tile_entry<S, 2, 12>();
  k.direct_tile_narrow = direct_tile_entry<S, 1, 24>();
  k.direct_tile_wide = direct_tile_entry<S, 4, 6>();

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

  // Pooling (AVX2's, see above).
  k.pool = avx2.pool;

  // Elementwise passes.
  k.elementwise = elementwise_kernels<T>();

  // Packers.
  k.copy_runs = &copy_runs<S>;
  k.pack_rows_transposed = avx2.pack_rows_transposed;  // AVX2's, see above
  return k;
}

KernelTable table() {
  KernelTable t{};
  t.isa = "avx512";
  t.fma_peak = &fma_peak_loop<F32>;
  t.f32 = kernels<float>();
  t.f64 = kernels<double>();
  return t;
}
}  // namespace avx512

const KernelTable& kernel_table_avx512() {
  static const KernelTable table = check_kernel_table(avx512::table());
  return table;
}

}  // namespace fastcnn
