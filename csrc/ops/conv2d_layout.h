// Re-layouts that several convolution paths share.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "conv2d.h"
#include "cpu.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

// The active table's direct tile of that kind (see direct_tile_shape).
template <typename T>
const DirectTileKernels<T>& direct_tile_kernels(DirectTileKind kind) {
  const Kernels<T>& k = active_kernels().get<T>();
  return kind == DirectTileKind::narrow ? k.direct_tile_narrow
         : kind == DirectTileKind::wide ? k.direct_tile_wide
                                        : k.direct_tile;
}

// b[c][r] = a[r][c] (+ add when kAdd) for r < rows, c < cols of one block:
// 4 x 4 float blocks transposed in SSE registers (x86-64's baseline; scalar
// copies would be a large share of a channels-last layer), the edges and
// doubles element by element. Without kAdd the
// values are copied exactly (-0.0 + 0.0 would not be).
template <typename T, bool kAdd = false>
void transpose_block(const T* a, int64_t lda, int64_t rows, int64_t cols, T* b, int64_t ldb, T add = T(0)) {
  int64_t r0 = 0, c0 = 0;
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    const __m128 addv = _mm_set1_ps(add);
    for (r0 = 0; r0 + 4 <= rows; r0 += 4)
      for (c0 = 0; c0 + 4 <= cols; c0 += 4) {
        __m128 v0 = _mm_loadu_ps(a + (r0 + 0) * lda + c0), v1 = _mm_loadu_ps(a + (r0 + 1) * lda + c0);
        __m128 v2 = _mm_loadu_ps(a + (r0 + 2) * lda + c0), v3 = _mm_loadu_ps(a + (r0 + 3) * lda + c0);
        _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
        if constexpr (kAdd) {
          v0 = _mm_add_ps(v0, addv);
          v1 = _mm_add_ps(v1, addv);
          v2 = _mm_add_ps(v2, addv);
          v3 = _mm_add_ps(v3, addv);
        }
        _mm_storeu_ps(b + (c0 + 0) * ldb + r0, v0);
        _mm_storeu_ps(b + (c0 + 1) * ldb + r0, v1);
        _mm_storeu_ps(b + (c0 + 2) * ldb + r0, v2);
        _mm_storeu_ps(b + (c0 + 3) * ldb + r0, v3);
      }
    // the columns past the last whole 4 of the rows done so far, then the rows past them
    for (int64_t r = 0; r < r0; ++r)
      for (int64_t c = cols / 4 * 4; c < cols; ++c) b[c * ldb + r] = kAdd ? a[r * lda + c] + add : a[r * lda + c];
  }
#endif
  for (int64_t r = r0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) b[c * ldb + r] = kAdd ? a[r * lda + c] + add : a[r * lda + c];
}

// Input channels [c0, c1) of one image (NCHW or NHWC, as p says) as
// zero-padded planes of pad_w-wide rows, `plane` elements apart, with
// p.pad_top rows and p.pad_left columns of zeros before the data.
template <typename T>
void pad_input_planes(const Conv2dParams& p, const T* image, int64_t c0, int64_t c1, int64_t pad_w, int64_t plane,
                      T* out) {
  const int64_t in_channel = p.channel_step(p.in_h, p.in_w), in_pixel = p.pixel_step(p.in_channels);
  // Every element is written once: zero rows above and below, each data row
  // between its zero borders (not a memset of the whole buffer first).
  const int64_t pad_right = pad_w - p.pad_left - p.in_w;
  const int64_t below = plane - (p.pad_top + p.in_h) * pad_w;  // bottom rows and any slack
  for (int64_t ci = c0; ci < c1; ++ci) {
    T* to = out + (ci - c0) * plane;
    std::memset(to, 0, sizeof(T) * p.pad_top * pad_w);
    to += p.pad_top * pad_w;
    const T* from = image + ci * in_channel;
    for (int64_t y = 0; y < p.in_h; ++y, to += pad_w, from += p.in_w) {
      for (int64_t x = 0; x < p.pad_left; ++x) to[x] = T(0);
      if (in_pixel == 1) std::memcpy(to + p.pad_left, from, sizeof(T) * p.in_w);
      for (int64_t x = 0; x < pad_right; ++x) to[p.pad_left + p.in_w + x] = T(0);
    }
    std::memset(to, 0, sizeof(T) * below);
  }
  if (in_pixel == 1) return;
  // Channels-last data pixel by pixel, each pixel's channels one contiguous
  // read spread over the planes (channel by channel, every plane would re-read
  // the whole image a value per pixel).
  for (int64_t y = 0; y < p.in_h; ++y)
    for (int64_t x = 0; x < p.in_w; ++x) {
      const T* from = image + (y * p.in_w + x) * in_pixel + c0;
      T* to = out + (p.pad_top + y) * pad_w + p.pad_left + x;
      for (int64_t c = 0; c < c1 - c0; ++c) to[c * plane] = from[c];
    }
}

// One channels-last image zero-padded: pad_h x pad_w pixels of C_in
// contiguous channels (pad_w = pad_left + in_w + pad_right + slack), each
// row one copy of the image's row between zero borders.
template <typename T>
void pad_input_pixels(const Conv2dParams& p, const T* image, int64_t pad_w, T* out) {
  const int64_t c = p.in_channels, row = pad_w * c;
  const int64_t left = p.pad_left * c, data = p.in_w * c, right = row - left - data;
  std::memset(out, 0, sizeof(T) * p.pad_top * row);
  T* to = out + p.pad_top * row;
  for (int64_t y = 0; y < p.in_h; ++y, to += row, image += data) {
    std::memset(to, 0, sizeof(T) * left);
    std::memcpy(to + left, image, sizeof(T) * data);
    std::memset(to + left + data, 0, sizeof(T) * right);
  }
  std::memset(to, 0, sizeof(T) * p.pad_bottom * row);
}

// The weights of the correlation that computes dx from dout (stride 1):
// out[ci][co] = w[co][ci] flipped in both spatial axes (one group). In
// parallel over blocks of input channels, each reading runs of its
// channels' filters per output channel (deep layers: 9.4 MB, too much for
// one thread a value at a time).
template <typename T>
void flip_transposed_weights(const Conv2dParams& p, const T* w, T* out) {
  const int64_t taps = p.kernel_h * p.kernel_w;
  constexpr int64_t kChannels = 16;
  const int64_t blocks = ceil_div(p.in_channels, kChannels);
  const int threads = p.in_channels * p.out_channels * taps >= (int64_t{1} << 16) ? threads_for(blocks) : 1;
  parallel_for(blocks, threads, Denormals::keep, [&](int64_t begin, int64_t end, int) {
    for (int64_t block = begin; block < end; ++block) {
      const int64_t c0 = block * kChannels, c1 = std::min(p.in_channels, c0 + kChannels);
      for (int64_t co = 0; co < p.out_channels; ++co)
        for (int64_t ci = c0; ci < c1; ++ci)
          for (int64_t e = 0; e < taps; ++e)
            out[(ci * p.out_channels + co) * taps + e] = w[(co * p.in_channels + ci) * taps + taps - 1 - e];
    }
  });
}

}  // namespace fastcnn
