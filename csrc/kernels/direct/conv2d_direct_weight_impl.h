// Direct weight gradient: a register tile of R rows of dW^T (one row per tap
// (ci, kh, kw)) x NV vectors of output channels, summed over every output
// position of one image:
//
//   acc[r][co] += sum over (oh, ow) of x_padded[offset[r] + oh*sh*pad_w + ow*sw] * dout_t[oh, ow][co]
//
// The im2col GEMM packs every tap's shifted copy of the input (K = C_in*KH*KW
// rows per position) and uses each packed value only C_out times, so with
// C_out 16..64 packing costs as much as the FMAs. Here the input is read in
// place from one zero-padded copy (a broadcast per tap and position) and dout,
// transposed once per image to [position][channel], is one vector load per NV
// FMAs: nothing grows with the kernel size.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace, after the
// ISA's vector trait S (simd.h, or ScalarTrait below for the generic table).
// Needs <cstdint> and kernel_table.h (DirectWeightGradient).

template <typename T_>
struct ScalarTrait {  // one-lane "vectors" for the portable table
  using T = T_;
  using V = T_;
  static constexpr int width = 1;
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V broadcast(const T* p) { return *p; }
  static V fmadd(V a, V b, V c) { return a * b + c; }
};

template <class S, int NV, int R>
void direct_weight_tile(const DirectWeightGradient& g, const typename S::T* padded,
                        const int64_t* offsets, const typename S::T* dout_t,
                        typename S::T* acc, int64_t ld) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int lanes = NV * S::width;
  V c[R][NV];
  const T* base[R];
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
    base[r] = padded + offsets[r];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) c[r][v] = S::load(acc + r * ld + v * S::width);
  }
  const T* d = dout_t;
  const int64_t row_step = g.stride_h * g.pad_w, sw = g.stride_w;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    int64_t at = oh * row_step;
    for (int64_t ow = 0; ow < g.out_w; ++ow, at += sw, d += lanes) {
      V dv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) dv[v] = S::load(d + v * S::width);
#pragma GCC unroll 24
      for (int r = 0; r < R; ++r) {
        const V xb = S::broadcast(base[r] + at);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) c[r][v] = S::fmadd(xb, dv[v], c[r][v]);
      }
    }
  }
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) S::store(acc + r * ld + v * S::width, c[r][v]);
}

// The tile with `rows` rows, 1 <= rows <= RMAX (each a separate unrolled
// instantiation, so the accumulators stay in registers).
template <class S, int NV, int RMAX>
void direct_weight_rows(const DirectWeightGradient& g, const typename S::T* padded,
                        const int64_t* offsets, int rows, const typename S::T* dout_t,
                        typename S::T* acc, int64_t ld) {
  if constexpr (RMAX > 1) {
    if (rows < RMAX)
      return direct_weight_rows<S, NV, RMAX - 1>(g, padded, offsets, rows, dout_t, acc, ld);
  }
  direct_weight_tile<S, NV, RMAX>(g, padded, offsets, dout_t, acc, ld);
}
