// Thin SIMD vector traits so one microkernel template serves every ISA.
// Included only by translation units compiled with the matching -m flags;
// each trait lives in the namespace of its ISA so no inline function built
// for a wide ISA can be merged into code that runs on a narrower CPU.
#pragma once
#include <cstdint>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace fastcnn {

#if defined(__AVX512F__)
namespace avx512 {
struct F32 {
  using T = float;
  using V = __m512;
  static constexpr int width = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static V broadcast(const T* p) { return _mm512_set1_ps(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // p[i * stride] for i < n, zero above (stride * 15 must fit in int32).
  static V gather(const T* p, int64_t stride, int n) {
    const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int>(stride)));
    return _mm512_mask_i32gather_ps(zero(), static_cast<__mmask16>((1u << n) - 1), index, p, 4);
  }
  static void store_first(T* p, V v, int n) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v); }
  // Lanes i with bit i of mask set (the others are not touched, nor faulted on).
  static void store_mask(T* p, V v, uint32_t mask) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>(mask), v); }
  // p[i] for i < n, zero above; nothing past p[n - 1] is read.
  static V load_first(const T* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
};
struct F64 {
  using T = double;
  using V = __m512d;
  static constexpr int width = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static V broadcast(const T* p) { return _mm512_set1_pd(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V gather(const T* p, int64_t stride, int n) {
    const __m256i index =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
    return _mm512_mask_i32gather_pd(zero(), static_cast<__mmask8>((1u << n) - 1), index, p, 8);
  }
  static void store_first(T* p, V v, int n) { _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), v); }
  static void store_mask(T* p, V v, uint32_t mask) { _mm512_mask_storeu_pd(p, static_cast<__mmask8>(mask), v); }
  static V load_first(const T* p, int n) { return _mm512_maskz_loadu_pd(static_cast<__mmask8>((1u << n) - 1), p); }
};
}  // namespace avx512
#endif

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
namespace avx2 {
struct F32 {
  using T = float;
  using V = __m256;
  static constexpr int width = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static V broadcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V gather(const T* p, int64_t stride, int n) {
    const __m256i index =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
    return _mm256_mask_i32gather_ps(zero(), p, index, _mm256_castsi256_ps(first(n)), 4);
  }
  static void store_first(T* p, V v, int n) { _mm256_maskstore_ps(p, first(n), v); }
  static void store_mask(T* p, V v, uint32_t mask) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(mask)), bit), bit);
    _mm256_maskstore_ps(p, set, v);
  }
  static V load_first(const T* p, int n) { return _mm256_maskload_ps(p, first(n)); }
};
struct F64 {
  using T = double;
  using V = __m256d;
  static constexpr int width = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static V broadcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static __m256i first(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
  static V gather(const T* p, int64_t stride, int n) {
    const __m128i index = _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int>(stride)));
    return _mm256_mask_i32gather_pd(zero(), p, index, _mm256_castsi256_pd(first(n)), 8);
  }
  static void store_first(T* p, V v, int n) { _mm256_maskstore_pd(p, first(n), v); }
  static void store_mask(T* p, V v, uint32_t mask) {
    const __m256i bit = _mm256_setr_epi64x(1, 2, 4, 8);
    const __m256i set = _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(mask), bit), bit);
    _mm256_maskstore_pd(p, set, v);
  }
  static V load_first(const T* p, int n) { return _mm256_maskload_pd(p, first(n)); }
};
}  // namespace avx2
#endif

}  // namespace fastcnn
