// Data augmentation over a batch of images: flips, crops, affine warps and
// contrast / brightness, each image with its own parameters (drawn by the
// caller, so a seeded draw gives the same batch on any thread count).
// Channels-first (N, C, H, W) or channels-last (N, H, W, C); the result has
// the input's layout and dtype.
#pragma once
#include <cstdint>

#include "../kernels/augment/image_transforms.h"

namespace fastcnn {

struct ImageBatch {
  int64_t batch, channels, height, width;
  bool channels_last;
  // Element strides of one image of this shape (a batch is contiguous).
  ImageStrides strides(int64_t h, int64_t w) const {
    return channels_last ? ImageStrides{1, w * channels, channels} : ImageStrides{h * w, w, 1};
  }
};

// flags[n]: bit 0 flips image n left-right, bit 1 upside down.
template <typename T>
void flip_images(const ImageBatch& b, const T* x, const uint8_t* flags, T* out);

// corners[2n], corners[2n+1]: top and left of image n's (out_h, out_w)
// window, which may reach outside the image (read as `fill`).
template <typename T>
void crop_images(const ImageBatch& b, const T* x, const int64_t* corners, int64_t out_h, int64_t out_w, T fill, T* out);

// maps[6n .. 6n+5]: image n's AffineMap from output to source pixels.
template <typename T>
void warp_images(const ImageBatch& b, const T* x, const double* maps, int64_t out_h, int64_t out_w,
                 Interpolation interpolation, FillMode mode, T fill, T* out);

// (x - image channel mean) * contrast[n] + mean + brightness[n], clipped to
// [low, high] when `clip`.
template <typename T>
void adjust_images(const ImageBatch& b, const T* x, const double* contrast, const double* brightness, bool clip,
                   double low, double high, T* out);

}  // namespace fastcnn
