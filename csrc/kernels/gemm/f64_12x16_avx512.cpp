// double GEMM microkernel, 12 rows x 16 columns (avx512): see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f64_12x16_avx512(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx512::F64, 12, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
