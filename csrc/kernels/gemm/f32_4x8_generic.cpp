// float GEMM microkernel, 4 rows x 8 columns: see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f32_4x8_generic(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int accumulate) {
  gemm_microkernel_portable<float, 4, 8>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
