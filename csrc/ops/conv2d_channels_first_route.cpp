// Channels-last convolutions through the channels-first algorithms.
//
// Winograd reads channels-first planes; on channels-last data the direct
// tiles would run instead, with up to four times Winograd's multiply-adds on
// 3x3 layers. So where `auto` would take it for the
// same convolution on channels-first data and it pays for the transposes,
// the batch goes through in chunks: each chunk's
// images are transposed into channels-first scratch, convolved, and the
// result transposed back. Chunks keep the scratch bounded (8 MiB for input and
// result together, at least one image) whatever the batch.
#include <algorithm>

#include "conv2d.h"
#include "conv2d_layout.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

namespace {

constexpr int64_t kChunkBytes = int64_t{8} << 20;
constexpr int64_t kBlock = 32;

// to[n][c][i] = from[n][i][c] (pixels i, channels c) when `to_first`, else
// to[n][i][c] = from[n][c][i]; 32 x 32 blocks (4 KiB of floats: both sides
// stay in L1) in parallel.
template <typename T>
void transpose_images(const T* from, int64_t images, int64_t pixels, int64_t channels, T* to, bool to_first) {
  const int64_t pixel_blocks = ceil_div(pixels, kBlock), channel_blocks = ceil_div(channels, kBlock);
  const int64_t per_image = pixel_blocks * channel_blocks, image = pixels * channels;
  parallel_for(images * per_image, [&](int64_t begin, int64_t end, int) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / per_image, block = task % per_image;
      const int64_t i0 = (block / channel_blocks) * kBlock, c0 = (block % channel_blocks) * kBlock;
      const int64_t ni = std::min(pixels - i0, kBlock), nc = std::min(channels - c0, kBlock);
      const T* src = from + n * image;
      T* dst = to + n * image;
      if (to_first)  // [pixel][channel] -> [channel][pixel]
        transpose_block(src + i0 * channels + c0, channels, ni, nc, dst + c0 * pixels + i0, pixels);
      else  // [channel][pixel] -> [pixel][channel]
        transpose_block(src + c0 * pixels + i0, pixels, nc, ni, dst + i0 * channels + c0, channels);
    }
  });
}

// p as channels-first data, `images` of them.
Conv2dParams channels_first(const Conv2dParams& p, int64_t images) {
  Conv2dParams q = p;
  q.channels_last = false;
  q.batch = images;
  return q;
}

// One channels-last tensor in, one out (images of `from_pixels` x
// `from_channels` and `to_pixels` x `to_channels`): every chunk of images is
// transposed to channels-first scratch, run(params, from_first, to_first)
// computes its result there, and that is transposed back. Chunks keep input
// and result within kChunkBytes (at least one image).
template <typename T, class Run>
void through_channels_first(const Conv2dParams& p, const T* from, int64_t from_pixels, int64_t from_channels, T* to,
                            int64_t to_pixels, int64_t to_channels, Run run) {
  const int64_t from_image = from_pixels * from_channels, to_image = to_pixels * to_channels;
  const int64_t chunk = channels_first_chunk(p, from_image + to_image, sizeof(T)).batch;
  Workspace<T> from_first(chunk * from_image), to_first(chunk * to_image);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, p.batch - n0);
    transpose_images(from + n0 * from_image, images, from_pixels, from_channels, from_first.data(), true);
    run(channels_first(p, images), from_first.data(), to_first.data());
    transpose_images(to_first.data(), images, to_pixels, to_channels, to + n0 * to_image, false);
  }
}

}  // namespace

Conv2dParams channels_first_chunk(const Conv2dParams& p, int64_t image_elements, int element_bytes) {
  const int64_t per_image = image_elements * element_bytes;
  return channels_first(p, std::max<int64_t>(1, std::min(p.batch, kChunkBytes / std::max<int64_t>(per_image, 1))));
}

template <typename T>
void conv2d_forward_through_channels_first(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  through_channels_first(
      p, x, p.in_h * p.in_w, p.in_channels, out, p.out_h * p.out_w, p.out_channels,
      [&](const Conv2dParams& q, const T* x_first, T* out_first) { conv2d_forward(q, x_first, w, bias, out_first); });
}

template <typename T>
void conv2d_backward_data_through_channels_first(const Conv2dParams& p, const T* dout, const T* w, T* dx) {
  through_channels_first(p, dout, p.out_h * p.out_w, p.out_channels, dx, p.in_h * p.in_w, p.in_channels,
                         [&](const Conv2dParams& q, const T* dout_first, T* dx_first) {
                           conv2d_backward_data(q, dout_first, w, dx_first);
                         });
}

// dW of channels-last data: each chunk's x and dout are transposed to
// channels-first scratch and its dW (Winograd where `auto` takes it) is
// summed over the chunks in order.
template <typename T>
void conv2d_backward_weight_through_channels_first(const Conv2dParams& p, const T* dout, const T* x, T* dw) {
  const int64_t x_image = p.in_h * p.in_w * p.in_channels, d_image = p.out_h * p.out_w * p.out_channels;
  const int64_t chunk = channels_first_chunk(p, x_image + d_image, sizeof(T)).batch;
  const int64_t weights = p.out_channels * p.in_per_group() * p.kernel_h * p.kernel_w;
  Workspace<T> x_first(chunk * x_image), dout_first(chunk * d_image), part(chunk < p.batch ? weights : 0);
  for (int64_t n0 = 0; n0 < p.batch; n0 += chunk) {
    const int64_t images = std::min(chunk, p.batch - n0);
    transpose_images(x + n0 * x_image, images, p.in_h * p.in_w, p.in_channels, x_first.data(), true);
    transpose_images(dout + n0 * d_image, images, p.out_h * p.out_w, p.out_channels, dout_first.data(), true);
    conv2d_backward_weight(channels_first(p, images), dout_first.data(), x_first.data(), n0 == 0 ? dw : part.data());
    if (n0 > 0)
      for (int64_t i = 0; i < weights; ++i) dw[i] += part.data()[i];
  }
}

template void conv2d_forward_through_channels_first<float>(const Conv2dParams&, const float*, const float*,
                                                           const float*, float*);
template void conv2d_forward_through_channels_first<double>(const Conv2dParams&, const double*, const double*,
                                                            const double*, double*);
template void conv2d_backward_data_through_channels_first<float>(const Conv2dParams&, const float*, const float*,
                                                                 float*);
template void conv2d_backward_data_through_channels_first<double>(const Conv2dParams&, const double*, const double*,
                                                                  double*);

template void conv2d_backward_weight_through_channels_first<float>(const Conv2dParams&, const float*, const float*,
                                                                   float*);
template void conv2d_backward_weight_through_channels_first<double>(const Conv2dParams&, const double*, const double*,
                                                                    double*);

}  // namespace fastcnn
