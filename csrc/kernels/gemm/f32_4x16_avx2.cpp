// float GEMM microkernel, 4 rows x 16 columns (avx2): see gemm_microkernel.h.
// The narrow variant, for row counts the main tile would pad by over 25%
// (see ops/gemm_blocking.h).
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_4x16_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx2::F32, 4, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
