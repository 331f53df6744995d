// float GEMM microkernel, 12 rows x 32 columns (avx512): see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_12x32_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx512::F32, 12, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
