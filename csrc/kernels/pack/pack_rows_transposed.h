// pack_a_panels for a row-major source: micro-panels [k][mr] of `rows` rows
// that are contiguous runs of k values, dst[(m0 + kk) * mr + r] = a[(m0 + r)
// * row + kk] per panel of mr rows, zero rows past `rows`. That is a
// transposition: the Winograd weight gradient's transforms write one row
// per channel (tiles in the vector lanes) and its GEMMs need the channels in
// the lanes. Element by element it would be a large share of that op; here
// 8 x 8 (float) or 4 x 4 (double) blocks are turned in
// registers. Included inside an ISA namespace (after <type_traits>); the
// portable build copies element by element. AVX-512 takes the AVX2 version.
#if defined(__AVX2__)
inline void transpose_block(__m256 (&v)[8]) {
  __m256 t[8], s[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h)      // rows 0-3, rows 4-7
    for (int i = 0; i < 2; ++i) {  // unpacklo, unpackhi
      const __m256 a = t[4 * h + i], b = t[4 * h + 2 + i];
      s[4 * h + 2 * i] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(1, 0, 1, 0));
      s[4 * h + 2 * i + 1] = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 2, 3, 2));
    }
  for (int j = 0; j < 4; ++j) {
    v[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
    v[4 + j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
  }
}

inline void transpose_block(__m256d (&v)[4]) {
  const __m256d t0 = _mm256_unpacklo_pd(v[0], v[1]), t1 = _mm256_unpackhi_pd(v[0], v[1]);
  const __m256d t2 = _mm256_unpacklo_pd(v[2], v[3]), t3 = _mm256_unpackhi_pd(v[2], v[3]);
  v[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  v[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  v[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  v[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}

inline __m256 load_block_row(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d load_block_row(const double* p) { return _mm256_loadu_pd(p); }
inline void store_block_row(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void store_block_row(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
#endif

template <typename T>
void pack_rows_transposed(const T* __restrict a, int64_t row, int64_t rows, int64_t k, int mr, T* __restrict dst) {
  for (int64_t m0 = 0; m0 < rows; m0 += mr, dst += mr * k) {
    const int live = static_cast<int>(rows - m0 < mr ? rows - m0 : mr);
    const T* panel = a + m0 * row;
    int r0 = 0;
#if defined(__AVX2__)
    constexpr int B = 32 / sizeof(T);
    using V = std::conditional_t<sizeof(T) == 4, __m256, __m256d>;
    for (; r0 + B <= live; r0 += B) {
      int64_t kk = 0;
      for (; kk + B <= k; kk += B) {
        V v[B];
        for (int i = 0; i < B; ++i) v[i] = load_block_row(panel + (r0 + i) * row + kk);
        transpose_block(v);
        for (int j = 0; j < B; ++j) store_block_row(dst + (kk + j) * mr + r0, v[j]);
      }
      for (; kk < k; ++kk)
        for (int i = 0; i < B; ++i) dst[kk * mr + r0 + i] = panel[(r0 + i) * row + kk];
    }
#endif
    for (int r = r0; r < live; ++r)
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * mr + r] = panel[r * row + kk];
    for (int64_t kk = 0; kk < k; ++kk)
      for (int r = live; r < mr; ++r) dst[kk * mr + r] = 0;
  }
}
