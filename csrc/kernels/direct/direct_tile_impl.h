// The direct tile: a register block of R rows x NV vectors (`lanes`
// values), summed over a three-level walk through a source array:
//
//   acc[r][j] += sum over (i0, i1, i2) of src[offsets[r] + i0*step0 + i1*step1 + i2*step2] * b[i][j]
//
// with i = (i0*count1 + i1)*count2 + i2 the walk's flat index (b advances by
// one row of `lanes` per step). Per step: NV vector loads of b, R broadcasts
// of src, R*NV FMAs; nothing is packed or copied.
//
// Two convolutions use it (ops/conv2d_direct_weight.cpp, ops/conv2d_direct_tiles.cpp):
// * weight gradient: rows are taps (ci, kh, kw), src the zero-padded input,
//   the walk the output positions (oh, ow), b dout transposed to
//   [position][channel]. The im2col GEMM packs every tap's shifted copy of
//   the input (C_in*KH*KW rows per position) and uses each packed value only
//   C_out times, so with C_out 16..64 packing costs as much as the FMAs.
// * forward: rows are output positions, the walk the taps (ci, kh, kw), b the
//   weights transposed to [tap][output channel].
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after the
// ISA's vector trait S (simd.h, or ScalarTrait below for the generic table).
// Needs <cstdint> and kernel_table.h (DirectWalk).

template <typename T_>
struct ScalarTrait {  // one-lane "vectors" for the portable table
  using T = T_;
  using V = T_;
  static constexpr int width = 1;
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V broadcast(const T* p) { return *p; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
  static V zero() { return T(0); }
  static V gather(const T* p, int64_t, int) { return *p; }
  static void store_first(T* p, V v, int) { *p = v; }
  static V load_first(const T* p, int) { return *p; }
  static V add(V a, V b) { return a + b; }
};

template <class S, int NV, int R, bool FromInit>
void direct_tile(const DirectWalk& walk, const typename S::T* src, const int64_t* offsets, const typename S::T* b,
                 typename S::T* acc, int64_t ld, const typename S::T* init) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int lanes = NV * S::width;
  V c[R][NV];
  const T* base[R];
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    base[r] = src + offsets[r];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = S::load(FromInit ? init + v * S::width : acc + r * ld + v * S::width);
  }
  const int64_t step2 = walk.step[2];
  for (int64_t i0 = 0; i0 < walk.count[0]; ++i0, b += walk.b_outer_skip)
    for (int64_t i1 = 0; i1 < walk.count[1]; ++i1) {
      int64_t at = i0 * walk.step[0] + i1 * walk.step[1];
      for (int64_t i2 = 0; i2 < walk.count[2]; ++i2, at += step2, b += lanes) {
        V bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * S::width);
#pragma GCC unroll 24
        for (int r = 0; r < R; ++r) {
          const V xb = S::broadcast(base[r] + at);
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) c[r][v] = S::fmadd(xb, bv[v], c[r][v]);
        }
      }
      b += walk.b_row_skip;
    }
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(acc + r * ld + v * S::width, c[r][v]);
}

// The tile with `rows` rows, 1 <= rows <= RMAX (each a separate unrolled
// instantiation, so the accumulators stay in registers), summing onto acc
// or (FromInit) onto the row init.
template <class S, int NV, int RMAX, bool FromInit>
void direct_tile_rows_from(const DirectWalk& walk, const typename S::T* src, const int64_t* offsets, int rows,
                           const typename S::T* b, typename S::T* acc, int64_t ld, const typename S::T* init) {
  if constexpr (RMAX > 1) {
    if (rows < RMAX)
      return direct_tile_rows_from<S, NV, RMAX - 1, FromInit>(walk, src, offsets, rows, b, acc, ld, init);
  }
  direct_tile<S, NV, RMAX, FromInit>(walk, src, offsets, b, acc, ld, init);
}

template <class S, int NV, int RMAX>
void direct_tile_rows(const DirectWalk& walk, const typename S::T* src, const int64_t* offsets, int rows,
                      const typename S::T* b, typename S::T* acc, int64_t ld) {
  direct_tile_rows_from<S, NV, RMAX, false>(walk, src, offsets, rows, b, acc, ld, nullptr);
}

// out[j * out_stride + r] = acc[r * ld + j] for r < rows, j < live: a
// forward tile's [position][channel] results stored channel-major (NCHW),
// a vector of positions per gather instead of one scalar per element.
template <class S>
void direct_tile_store_transposed(const typename S::T* acc, int64_t ld, int rows, int live, typename S::T* out,
                                  int64_t out_stride) {
  for (int r0 = 0; r0 < rows; r0 += S::width) {
    const int n = rows - r0 < S::width ? rows - r0 : S::width;
    for (int j = 0; j < live; ++j) S::store_first(out + j * out_stride + r0, S::gather(acc + r0 * ld + j, ld, n), n);
  }
}

// to[q * lanes + j] = from[j * channel_step + q * position_step] for
// q < positions, j < live, and 0 for live <= j < lanes: one image's dout as
// [position][lane] rows for the weight gradient, a vector of lanes per gather.
template <class S>
void direct_tile_gather_lanes(const typename S::T* from, int live, int64_t channel_step, int64_t position_step,
                              int64_t positions, typename S::T* to, int lanes) {
  for (int64_t q = 0; q < positions; ++q, from += position_step, to += lanes)
    for (int j0 = 0; j0 < lanes; j0 += S::width) {
      const int n = live - j0 < S::width ? live - j0 : S::width;
      S::store(to + j0, n > 0 ? S::gather(from + j0 * channel_step, channel_step, n) : S::zero());
    }
}
