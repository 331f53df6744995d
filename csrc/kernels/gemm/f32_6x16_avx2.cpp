// float GEMM microkernel, 6 rows x 16 columns (avx2): see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_6x16_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx2::F32, 6, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
