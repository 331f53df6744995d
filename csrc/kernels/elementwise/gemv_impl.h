// Rows of a matrix product with few rows (a Dense layer on a sample or
// a few): C = A @ B for at most kGemvRows rows of A, B's rows read once, in
// place, a block of whole rows' columns at a time while the sums stay in
// L1. Packing B for the GEMM microkernel would copy all of it to use each
// value a few times.
//
// Included by kernels/table_<isa>.cpp inside that ISA's namespace.

constexpr int kGemvRows = 8;
constexpr int64_t kGemvBlock = 128;  // columns per block

// c[i * c_row + j] = sum over p < k of a[i * a_row + p * a_step] * b[p * b_row + j],
// i < rows <= kGemvRows, j < n.
template <typename T>
void gemv_rows(const T* a, int64_t a_row, int64_t a_step, int rows, const T* b, int64_t b_row, int64_t k, int64_t n,
               T* c, int64_t c_row) {
  T acc[kGemvRows][kGemvBlock];
  for (int64_t j0 = 0; j0 < n; j0 += kGemvBlock) {
    const int64_t w = n - j0 < kGemvBlock ? n - j0 : kGemvBlock;
    for (int i = 0; i < rows; ++i)
      for (int64_t j = 0; j < w; ++j) acc[i][j] = T(0);
    for (int64_t p = 0; p < k; ++p) {
      const T* row = b + p * b_row + j0;
      for (int i = 0; i < rows; ++i) {
        const T av = a[i * a_row + p * a_step];
        T* sums = acc[i];
#pragma omp simd
        for (int64_t j = 0; j < w; ++j) sums[j] += av * row[j];
      }
    }
    for (int i = 0; i < rows; ++i)
      for (int64_t j = 0; j < w; ++j) c[i * c_row + j0 + j] = acc[i][j];
  }
}
