// Direct stride-1 convolution for few input channels (C_in 1..4: the first
// layer of an image network), vectorised over output width.
//
// With K = C_in * KH * KW as small as 9..25, the GEMM path spends more time
// loading and storing its C tile and packing B than multiplying. Here a
// register block of kCo output channels x kWidth output columns stays in
// registers for the whole sum over (ci, kh, kw): per tap one (unaligned)
// vector load of the padded input row, shared by kCo FMAs with broadcast
// weights. The input arrives zero-padded, with kWidth columns of slack past
// each row, so the loads never need bounds.
//
// Included by kernels/table_<isa>.cpp *inside* that ISA's namespace.
// Needs <cstdint> and kernel_table.h (DirectConv) included before.

// One image, output channels [co_begin, co_end) x output rows [row_begin,
// row_end). padded: C_in planes of pad_h x pad_w; w_packed: per block of kCo
// output channels, taps (ci, kh, kw) each with kCo weights (zero past C_out).
// acc += the taps of every input channel for the block at `origin` (the
// block's first column in the padded plane of channel 0, row oh). kKh, kKw:
// the kernel size when known at compile time (3x3 and 5x5: the tap loops
// unroll completely), else 0.
template <typename T, int kCo, int kWidth, int kKh, int kKw>
inline void direct_conv_taps(const DirectConv& d, const T* origin, int64_t plane, const T* wt, T (&acc)[kCo][kWidth]) {
  const int64_t kh = kKh ? kKh : d.kernel_h, kw = kKw ? kKw : d.kernel_w;
  for (int64_t ci = 0; ci < d.in_channels; ++ci)
#pragma GCC unroll 7
    for (int64_t i = 0; i < kh; ++i) {
      const T* row = origin + ci * plane + i * d.pad_w;
#pragma GCC unroll 7
      for (int64_t j = 0; j < kw; ++j, wt += kCo) {
        const T* __restrict src = row + j;
#pragma GCC unroll 16
        for (int c = 0; c < kCo; ++c) {
          const T wc = wt[c];
#pragma omp simd
          for (int x = 0; x < kWidth; ++x) acc[c][x] += wc * src[x];
        }
      }
    }
}

template <typename T, int kCo, int kWidth>
void direct_conv_rows(const DirectConv& d, const T* padded, const T* w_packed, const T* bias, T* out, int64_t co_begin,
                      int64_t co_end, int64_t row_begin, int64_t row_end) {
  constexpr int W = kWidth;  // output columns per register block
  const int64_t taps = d.in_channels * d.kernel_h * d.kernel_w, plane = d.pad_h * d.pad_w;
  for (int64_t co0 = co_begin; co0 < co_end; co0 += kCo) {
    const int64_t live = co_end - co0 < kCo ? co_end - co0 : kCo;
    const T* wb = w_packed + (co0 / kCo) * taps * kCo;
    for (int64_t oh = row_begin; oh < row_end; ++oh)
      for (int64_t x0 = 0; x0 < d.out_w; x0 += W) {
        alignas(64) T acc[kCo][W];
#pragma GCC unroll 16
        for (int c = 0; c < kCo; ++c) {
          const T b = bias && c < live ? bias[co0 + c] : T(0);
#pragma omp simd
          for (int x = 0; x < W; ++x) acc[c][x] = b;
        }
        const T* origin = padded + oh * d.pad_w + x0;
        if (d.kernel_h == 3 && d.kernel_w == 3)
          direct_conv_taps<T, kCo, W, 3, 3>(d, origin, plane, wb, acc);
        else if (d.kernel_h == 5 && d.kernel_w == 5)
          direct_conv_taps<T, kCo, W, 5, 5>(d, origin, plane, wb, acc);
        else
          direct_conv_taps<T, kCo, W, 0, 0>(d, origin, plane, wb, acc);
        const int64_t cols = d.out_w - x0 < W ? d.out_w - x0 : W;
        if (d.out_pixel == 1) {
          for (int64_t c = 0; c < live; ++c) {
            T* o = out + (co0 + c) * d.out_h * d.out_w + oh * d.out_w + x0;
            for (int64_t x = 0; x < cols; ++x) o[x] = acc[c][x];
          }
        } else {  // channels-last: the block's channels of each pixel are adjacent
          // (scalar: for so few channels a gather per pixel is slower)
          T* o = out + (oh * d.out_w + x0) * d.out_pixel + co0;
          for (int64_t x = 0; x < cols; ++x, o += d.out_pixel)
            for (int64_t c = 0; c < live; ++c) o[c] = acc[c][x];
        }
      }
  }
}
