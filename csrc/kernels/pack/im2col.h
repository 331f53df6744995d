// The im2col gather, one row of the virtual column matrix at a time.
//
// Convolution as GEMM multiplies the weights by a "column" matrix B whose
// row k = (c, tap_h, tap_w) and column p = (y, x) on the output grid hold
// src[c][y * stride_h + offset_h[tap_h]][x * stride_w + offset_w[tap_w]]
// (zero outside the source). That matrix is never stored whole: the
// operators gather one bounded block of rows and columns at a time straight
// into the packed GEMM panels.
//
// Forward:       src = x,    offset_h[i] = i * dilation_h - pad_top, stride = conv stride.
// Backward-data: src = dout, per output phase, the taps that reach it, stride 1.
#pragma once
#include <cstdint>
#include <cstring>

namespace fastcnn {

template <typename T>
struct GatherSpec {
  const T* src;              // channels x src_h x src_w
  int64_t src_h, src_w;
  int64_t taps_h, taps_w;    // rows of B per channel = taps_h * taps_w
  const int64_t* offset_h;   // [taps_h]
  const int64_t* offset_w;   // [taps_w]
  int64_t stride_h, stride_w;
  int64_t grid_w;            // columns of B = grid_h * grid_w, row-major over (y, x)
  // Valid x range per horizontal tap: 0 <= x*stride_w + offset_w[t] < src_w.
  const int64_t* x_begin;    // [taps_w]
  const int64_t* x_end;      // [taps_w]

  // True when row k of B is a plain slice of src (1x1, stride 1, no
  // padding, grid == source): the gather can be skipped.
  bool identity() const {
    return taps_h == 1 && taps_w == 1 && offset_h[0] == 0 && offset_w[0] == 0 && stride_h == 1 &&
           stride_w == 1 && grid_w == src_w;
  }
};

// First x >= 0 with x*stride + offset >= 0, and the end of the x range with
// x*stride + offset < size, clipped to [0, grid_w].
inline void valid_range(int64_t offset, int64_t stride, int64_t size, int64_t grid_w,
                        int64_t* begin, int64_t* end) {
  int64_t b = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t last = size - 1 - offset;  // x*stride <= last
  int64_t e = last < 0 ? 0 : last / stride + 1;
  if (e > grid_w) e = grid_w;
  if (b > e) b = e;
  *begin = b;
  *end = e;
}

// Writes B[k][p0 .. p0+count) to out (contiguous).
template <typename T>
void gather_row(const GatherSpec<T>& g, int64_t k, int64_t p0, int64_t count, T* __restrict out) {
  const int64_t taps = g.taps_h * g.taps_w;
  const int64_t c = k / taps, t = k % taps, th = t / g.taps_w, tw = t % g.taps_w;
  const T* plane = g.src + c * g.src_h * g.src_w;
  const int64_t oh = g.offset_h[th], ow = g.offset_w[tw];
  const int64_t xb = g.x_begin[tw], xe = g.x_end[tw];
  int64_t y = p0 / g.grid_w, x = p0 % g.grid_w;
  while (count > 0) {
    const int64_t run = g.grid_w - x < count ? g.grid_w - x : count;  // to the end of grid row y
    const int64_t iy = y * g.stride_h + oh;
    if (iy < 0 || iy >= g.src_h) {
      std::memset(out, 0, sizeof(T) * run);
    } else {
      const T* row = plane + iy * g.src_w + ow;
      const int64_t lo = xb > x ? (xb < x + run ? xb : x + run) : x;
      const int64_t hi = xe < x + run ? (xe > lo ? xe : lo) : x + run;
      T* o = out;
      for (int64_t i = x; i < lo; ++i) *o++ = 0;
      if (g.stride_w == 1) {
        std::memcpy(o, row + lo, sizeof(T) * (hi - lo));
        o += hi - lo;
      } else {
        for (int64_t i = lo; i < hi; ++i) *o++ = row[i * g.stride_w];
      }
      for (int64_t i = hi; i < x + run; ++i) *o++ = 0;
    }
    out += run;
    count -= run;
    x = 0;
    ++y;
  }
}

}  // namespace fastcnn
