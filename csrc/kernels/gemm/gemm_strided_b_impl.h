// GEMM microkernel whose B rows are read in place: C (MR x NV * width) +=
// A (packed MR-row micro-panel, [k][MR]) * B, where B's row k is the
// contiguous run b + k * ldb. That is a 1x1 convolution of a channels-first
// image as it lies in memory (row k = input channel k's plane, columns =
// positions), so no B panel is packed: packing the image cost about a
// quarter of the GEMM path's time on 256 -> 64 1x1 layers.
//
// Columns past `cols` (the plane's tail) are neither read nor written; rows
// past `rows` (A's zero padding) are not stored. The epilogue adds C's old
// values (accumulate) and/or a per-row bias.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after
// direct/direct_tile_impl.h (its ScalarTrait serves the portable table).

template <class S, int MR, int NV, bool Partial>
inline void gemm_strided_b_loop(int64_t kc, const typename S::T* __restrict a, const typename S::T* __restrict b,
                                int64_t ldb, int cols, typename S::V (&acc)[MR][NV]) {
  using V = typename S::V;
  constexpr int W = S::width;
  for (int64_t k = 0; k < kc; ++k, a += MR, b += ldb) {
    V bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if constexpr (Partial) {
        const int live = cols - v * W;
        bv[v] = live >= W ? S::load(b + v * W) : (live > 0 ? S::load_first(b + v * W, live) : S::zero());
      } else {
        bv[v] = S::load(b + v * W);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const V ar = S::broadcast(a + r);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = S::fmadd(ar, bv[v], acc[r][v]);
    }
  }
}

template <class S, int MR, int NV>
void gemm_strided_b(int64_t kc, const typename S::T* a, const typename S::T* b, int64_t ldb, typename S::T* c,
                    int64_t ldc, int rows, int cols, int accumulate, const typename S::T* bias) {
  using V = typename S::V;
  constexpr int W = S::width, NR = NV * W;
  V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = S::zero();
  if (cols < NR)
    gemm_strided_b_loop<S, MR, NV, true>(kc, a, b, ldb, cols, acc);
  else
    gemm_strided_b_loop<S, MR, NV, false>(kc, a, b, ldb, cols, acc);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
    typename S::T* row = c + r * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int live = cols - v * W;
      if (live <= 0) break;
      V out = acc[r][v];
      if (bias) out = S::add(out, S::broadcast(bias + r));
      if (live >= W) {
        if (accumulate) out = S::add(out, S::load(row + v * W));
        S::store(row + v * W, out);
      } else {
        if (accumulate) out = S::add(out, S::load_first(row + v * W, live));
        S::store_first(row + v * W, out, live);
      }
    }
  }
}
