// double GEMM microkernel, 4 rows x 4 columns: see gemm_microkernel.h.
#include "gemm_microkernel.h"

namespace fastcnn {

void gemm_f64_4x4_generic(int64_t kc, const double* a, const double* b, double* c, int64_t ldc, int accumulate) {
  gemm_microkernel_portable<double, 4, 4>(kc, a, b, c, ldc, accumulate);
}

}  // namespace fastcnn
