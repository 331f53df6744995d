// float GEMM microkernel, 8 rows x 32 columns (avx512): see gemm_microkernel.h. The
// narrow variant for row counts that are multiples of 8 but not of the main
// tile's (Winograd's per-point GEMMs over 16, 32 or 64 channels).
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_8x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx512::F32, 8, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
