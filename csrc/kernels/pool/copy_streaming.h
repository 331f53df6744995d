// A copy whose stores bypass the caches. A result much larger than the last
// level cache is evicted before anyone reads it again, and ordinary stores
// first read every line they write (read for ownership), which can halve
// the write rate; a result the L3 holds costs the same either way.
// Included inside an ISA namespace by pool2d_impl.h; the portable build
// copies plainly.
//
// stream_unfenced leaves out the fence, for callers streaming many rows
// and fencing once (stream_fence) before their threads synchronise.
template <typename T>
void stream_unfenced(const T* __restrict src, T* __restrict dst, int64_t n) {
#if defined(__AVX2__)
  constexpr int64_t kLine = 64 / sizeof(T);
  // Plain stores up to the first whole cache line of dst: a line written
  // partly with non-temporal stores would be flushed partially.
  int64_t i = 0;
  const int64_t head = (64 - reinterpret_cast<uintptr_t>(dst) % 64) % 64;
  if (head % sizeof(T) == 0) {
    for (; i < head / static_cast<int64_t>(sizeof(T)) && i < n; ++i) dst[i] = src[i];
    for (; i + kLine <= n; i += kLine) {
      if constexpr (sizeof(T) == 4) {
        _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
        _mm256_stream_ps(dst + i + 8, _mm256_loadu_ps(src + i + 8));
      } else {
        _mm256_stream_pd(dst + i, _mm256_loadu_pd(src + i));
        _mm256_stream_pd(dst + i + 4, _mm256_loadu_pd(src + i + 4));
      }
    }
  }
  for (; i < n; ++i) dst[i] = src[i];
#else
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
#endif
}

// Non-temporal stores are weakly ordered: make them visible before the
// caller's threads synchronise.
inline void stream_fence() {
#if defined(__AVX2__)
  _mm_sfence();
#endif
}

template <typename T>
void copy_streaming(const T* __restrict src, T* __restrict dst, int64_t n) {
  stream_unfenced(src, dst, n);
  stream_fence();
}
