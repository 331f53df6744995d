// double GEMM microkernel, 6 rows x 8 columns (avx2): see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f64_6x8_avx2(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate) {
  gemm_microkernel<avx2::F64, 6, 2>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
