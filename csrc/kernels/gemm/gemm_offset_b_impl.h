// GEMM microkernel whose B rows are read where they lie, one offset per row:
// C (MR x NV * width) (+)= A (packed MR-row micro-panel, [k][MR]) * B, where
// B's row k is the contiguous run b + offset[k]. An im2col row of a
// convolution is such a run of the zero-padded input band (a tap is a fixed
// shift of its channel's band plane), so the implicit GEMM needs no packed
// B panel: packing it would be a strided copy of taps x the input per block,
// and the panel would be read back from L2 for every A panel, where these
// runs are read by each A panel from L1.
//
// Always a full tile: the caller's B runs have NV * width readable values
// and C is a block buffer whose extra columns are thrown away.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after
// direct/direct_tile_impl.h (its ScalarTrait serves the portable table);
// the register tile is gemm_microkernel.h's, included before.

template <class S, int MR, int NV>
void gemm_offset_b(int64_t kc, const typename S::T* __restrict a, const typename S::T* b,
                   const int64_t* __restrict offset, typename S::T* __restrict c, int64_t ldc, int accumulate) {
  gemm_register_tile<S, MR, NV>(kc, a, [b, offset](int64_t k) { return b + offset[k]; }, c, ldc, accumulate);
}

// The same tile with its final sums written where the output wants them
// (see TileStores), not into a block buffer the driver copies out afterwards
// (whose rows would go through L2 and an SSE loop).
template <class S, int MR, int NV>
void gemm_offset_b_store(int64_t kc, const typename S::T* __restrict a, const typename S::T* b,
                         const int64_t* __restrict offset, const typename S::T* c, int64_t ldc, int accumulate,
                         const typename S::T* bias, int rows, const TileStores& to, typename S::T* out,
                         int64_t out_row_stride) {
  using V = typename S::V;
  static_assert(NV == TileStores::kVectors, "TileStores plans tiles of kVectors vectors");
  gemm_register_tile_to<S, MR, NV>(
      kc, a, [b, offset](int64_t k) { return b + offset[k]; },
      [&](V(&acc)[MR][NV]) {
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          if (r >= rows) break;
          typename S::T* row = out + r * out_row_stride;
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            V sum = acc[r][v];
            if (accumulate) sum = S::add(sum, S::load(c + r * ldc + v * S::width));
            if (bias) sum = S::add(sum, S::broadcast(bias + r));
            S::store_mask(row + to.offset[v][0], sum, to.mask[v][0]);
            if (to.mask[v][1]) S::store_mask(row + to.offset[v][1], sum, to.mask[v][1]);
          }
        }
      });
}
