// Channels-last convolutions through the channels-first algorithms.
//
// Winograd reads channels-first planes; on channels-last data the direct
// tiles would run instead, at up to 2.2x the time (ResNet 64 -> 64 3x3 at
// 56x56: tiles 28 ms, Winograd 12.5). So where `auto` would take it for the
// same convolution on channels-first data and it pays for the transposes,
// the batch goes through in chunks: each chunk's
// images are transposed into channels-first scratch, convolved, and the
// result transposed back. Chunks keep the scratch bounded (8 MiB for input and
// result together, at least one image) whatever the batch.
#include <algorithm>

#include "conv2d.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

constexpr int64_t kChunkBytes = int64_t{8} << 20;
constexpr int64_t kBlock = 32;  // a 32 x 32 block of floats is 4 KiB: both sides stay in L1

// to[n][c][i] = from[n][i][c] (rows = pixels, cols = channels) when
// `to_first`, else to[n][i][c] = from[n][c][i]; blocks of pixels x channels
// in parallel.
template <typename T>
void transpose_images(const T* from, int64_t images, int64_t pixels, int64_t channels, T* to,
                      bool to_first) {
  const int64_t pixel_blocks = ceil_div(pixels, kBlock), channel_blocks = ceil_div(channels, kBlock);
  const int64_t per_image = pixel_blocks * channel_blocks, image = pixels * channels;
  parallel_for(images * per_image, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / per_image, block = task % per_image;
      const int64_t i0 = (block / channel_blocks) * kBlock, c0 = (block % channel_blocks) * kBlock;
      const int64_t i1 = std::min(pixels, i0 + kBlock), c1 = std::min(channels, c0 + kBlock);
      const T* src = from + n * image;
      T* dst = to + n * image;
      if (to_first) {
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t i = i0; i < i1; ++i) dst[c * pixels + i] = src[i * channels + c];
      } else {
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t c = c0; c < c1; ++c) dst[i * channels + c] = src[c * pixels + i];
      }
    }
  });
}

// Images per chunk: input and result of a chunk within kChunkBytes.
int64_t chunk_images(const Conv2dParams& p, int64_t in_elements, int64_t out_elements, int64_t element_bytes) {
  const int64_t per_image = (in_elements + out_elements) * element_bytes;
  return std::max<int64_t>(1, std::min(p.batch, kChunkBytes / std::max<int64_t>(per_image, 1)));
}

// p as channels-first data, `images` of them.
Conv2dParams channels_first(const Conv2dParams& p, int64_t images) {
  Conv2dParams q = p;
  q.channels_last = false;
  q.batch = images;
  return q;
}

}  // namespace

template <typename T>
bool conv2d_forward_through_channels_first(const Conv2dParams& p, const T* x, const T* w, const T* bias,
                                           T* out) {
  const int64_t in_image = p.in_channels * p.in_h * p.in_w, out_image = p.out_channels * p.out_h * p.out_w;
  const int64_t chunk = chunk_images(p, in_image, out_image, sizeof(T));
  if (!prefers_channels_first_forward(channels_first(p, chunk), sizeof(T))) return false;
  Workspace<T> x_first(chunk * in_image), out_first(chunk * out_image);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, p.batch - n0);
    transpose_images(x + n0 * in_image, images, p.in_h * p.in_w, p.in_channels, x_first.data(), true);
    conv2d_forward(channels_first(p, images), x_first.data(), w, bias, out_first.data());
    transpose_images(out_first.data(), images, p.out_h * p.out_w, p.out_channels, out + n0 * out_image, false);
  }
  return true;
}

template <typename T>
bool conv2d_backward_data_through_channels_first(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  const int64_t in_image = p.in_channels * p.in_h * p.in_w, out_image = p.out_channels * p.out_h * p.out_w;
  const int64_t chunk = chunk_images(p, in_image, out_image, sizeof(T));
  if (!prefers_channels_first_backward_data(channels_first(p, chunk), sizeof(T))) return false;
  Workspace<T> dout_first(chunk * out_image), dx_first(chunk * in_image);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, p.batch - n0);
    transpose_images(dout + n0 * out_image, images, p.out_h * p.out_w, p.out_channels, dout_first.data(), true);
    conv2d_backward_data(channels_first(p, images), dout_first.data(), w, dx_first.data());
    transpose_images(dx_first.data(), images, p.in_h * p.in_w, p.in_channels, dx + n0 * in_image, false);
  }
  return true;
}

template bool conv2d_forward_through_channels_first<float>(const Conv2dParams&, const float*, const float*,
                                                           const float*, float*);
template bool conv2d_forward_through_channels_first<double>(const Conv2dParams&, const double*, const double*,
                                                            const double*, double*);
template bool conv2d_backward_data_through_channels_first<float>(const Conv2dParams&, const float*, const float*,
                                                                 float*);
template bool conv2d_backward_data_through_channels_first<double>(const Conv2dParams&, const double*,
                                                                  const double*, double*);

}  // namespace fastcnn
