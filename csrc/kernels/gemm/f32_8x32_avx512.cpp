// float GEMM microkernel, 8 rows x 32 columns (avx512): see gemm_microkernel.h.
// The narrow variant, for row counts the main tile would pad by over 25%
// (see ops/gemm_blocking.h).
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_8x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx512::F32, 8, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
