// Register-blocked GEMM microkernel: an MR x (NV * width) tile of C held in
// vector registers for the whole k loop (BLIS's innermost loop).
//
// Per k step it loads NV vectors of the packed B micro-panel, broadcasts MR
// scalars of the packed A micro-panel and issues MR * NV independent FMAs;
// MR * NV accumulators hide the FMA latency. Fully unrolled over r and v so
// the compiler keeps `acc` in registers.
#pragma once
#include <cstdint>

#include "../simd.h"

namespace fastcnn {

// The register tile itself, for any B layout: row(k) points at the NV
// vectors of B's row k (the packed micro-panel's, or a row read in place by
// gemm/gemm_offset_b_impl.h).
// Inlined into each kernel, so that `store` sees acc in registers and no
// lambda travels through the stack (a call per tile is costly on small layers).
template <class S, int MR, int NV, class BRow, class Store>
__attribute__((always_inline)) inline void gemm_register_tile_to(int64_t kc, const typename S::T* __restrict a,
                                                                 BRow row, Store store) {
  using V = typename S::V;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();

  for (int64_t k = 0; k < kc; ++k) {
    const typename S::T* b = row(k);
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * S::width);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const V ar = S::broadcast(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(ar, bv[v], acc[r][v]);
    }
    a += MR;
  }
  store(acc);
}

// The tile's sums stored to (or, accumulate != 0, added to) C.
template <class S, int MR, int NV, class BRow>
__attribute__((always_inline)) inline void gemm_register_tile(int64_t kc, const typename S::T* __restrict a, BRow row,
                                                              typename S::T* __restrict c, int64_t ldc,
                                                              int accumulate) {
  using V = typename S::V;
  gemm_register_tile_to<S, MR, NV>(kc, a, row, [c, ldc, accumulate](V(&acc)[MR][NV]) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      typename S::T* out = c + r * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        V sum = acc[r][v];
        if (accumulate) sum = S::add(sum, S::load(out + v * S::width));
        S::store(out + v * S::width, sum);
      }
    }
  });
}

template <class S, int MR, int NV>
inline void gemm_microkernel(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                             typename S::T* __restrict c, int64_t ldc, int accumulate) {
  constexpr int NR = NV * S::width;
  gemm_register_tile<S, MR, NV>(kc, a, [b](int64_t k) { return b + k * NR; }, c, ldc, accumulate);
}

// Portable fallback: the same register tile as plain arrays; the compiler
// vectorises the inner loop over NR with whatever the baseline ISA offers.
template <typename T, int MR, int NR>
inline void gemm_microkernel_portable(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c,
                                      int64_t ldc, int accumulate) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int r = 0; r < MR; ++r) {
      const T ar = a[r];
      for (int j = 0; j < NR; ++j) acc[r][j] += ar * b[j];
    }
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NR; ++j) c[r * ldc + j] = accumulate ? c[r * ldc + j] + acc[r][j] : acc[r][j];
}

}  // namespace fastcnn
