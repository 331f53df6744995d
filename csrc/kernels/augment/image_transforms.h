// Per-row image transforms for data augmentation: flips, crops with a fill,
// affine warps (nearest or bilinear, with Keras' fill modes) and contrast /
// brightness. Pure compute on one output row of one image; csrc/ops/augment.cpp
// splits a batch into rows over threads.
//
// An image is addressed by element strides, so one code path serves
// channels-first (N, C, H, W) and channels-last (N, H, W, C) batches: pixel
// (c, y, x) of an image is at c * channel + y * row + x * column.
#pragma once
#include <cmath>
#include <cstdint>

namespace fastcnn {

struct ImageStrides {
  int64_t channel, row, column;
};

// Where a source coordinate outside [0, size) reads from (Keras' fill_mode):
// constant leaves it outside (the fill value is read there), reflect mirrors
// about the edge of the outermost pixel (d c b a | a b c d | d c b a), wrap
// repeats the image (a b c d | a b c d), nearest repeats the edge pixel.
enum class FillMode { constant, reflect, wrap, nearest };
enum class Interpolation { nearest, bilinear };

// floor(v) for |v| < 2^62 without a libm call (the ops are built for the
// baseline ISA, where std::floor is a function call per pixel).
inline double floor_of(double v) {
  const double t = static_cast<double>(static_cast<int64_t>(v));
  return t > v ? t - 1 : t;
}

// v rounded to the nearest integer, ties to even (np.rint), for |v| < 2^51:
// adding and subtracting 1.5 * 2^52 leaves no fraction bits.
inline double round_even(double v) {
  constexpr double kShift = 6755399441055744.0;
  volatile double shifted = v + kShift;  // volatile: kept from being folded away
  return shifted - kShift;
}

// Source coordinates are kept within this bound, so that the integer
// conversions above hold and far-away points map like any other.
constexpr double kCoordinateLimit = 1e12;

// The coordinate `u` (pixel k spans [k - 0.5, k + 0.5]) mapped into the image
// by `mode`: a point inside [0, size - 1] stays as it is; constant returns
// every point unchanged.
inline double fill_coordinate(double u, int64_t size, FillMode mode) {
  const double n = static_cast<double>(size);
  if (mode == FillMode::constant || (u >= 0 && u <= n - 1)) return u;
  u = u < -kCoordinateLimit ? -kCoordinateLimit : (u > kCoordinateLimit ? kCoordinateLimit : u);
  double v;
  switch (mode) {
    case FillMode::nearest: return u < 0 ? 0 : n - 1;
    case FillMode::wrap: {
      v = u + 0.5;
      v -= n * floor_of(v / n);
      break;
    }
    default: {  // reflect: period 2n, mirrored in its second half
      v = u + 0.5;
      v -= 2 * n * floor_of(v / (2 * n));
      if (v >= n) v = 2 * n - v;
      break;
    }
  }
  v -= 0.5;
  return v < 0 ? 0 : (v > n - 1 ? n - 1 : v);
}

// Output row y of an image flipped left-right and/or upside down.
template <typename T>
void flip_row(const T* image, T* out, ImageStrides in, ImageStrides o, int64_t channels, int64_t height, int64_t width,
              int64_t y, bool horizontal, bool vertical) {
  const T* src_row = image + (vertical ? height - 1 - y : y) * in.row;
  T* dst_row = out + y * o.row;
  for (int64_t c = 0; c < channels; ++c) {
    const T* s = src_row + c * in.channel;
    T* d = dst_row + c * o.channel;
    if (horizontal)
      for (int64_t x = 0; x < width; ++x) d[x * o.column] = s[(width - 1 - x) * in.column];
    else
      for (int64_t x = 0; x < width; ++x) d[x * o.column] = s[x * in.column];
  }
}

// Output row y of the (out_height, out_width) window whose top-left corner
// is at (top, left) of the image; pixels outside the image are `fill`.
template <typename T>
void crop_row(const T* image, T* out, ImageStrides in, ImageStrides o, int64_t channels, int64_t height, int64_t width,
              int64_t out_width, int64_t y, int64_t top, int64_t left, T fill) {
  const int64_t sy = y + top;
  T* dst_row = out + y * o.row;
  // Columns [x0, x1) of the output read inside the image.
  const int64_t x0 = left < 0 ? (-left < out_width ? -left : out_width) : 0;
  int64_t x1 = width - left;
  x1 = x1 < x0 ? x0 : (x1 > out_width ? out_width : x1);
  for (int64_t c = 0; c < channels; ++c) {
    T* d = dst_row + c * o.channel;
    if (sy < 0 || sy >= height) {
      for (int64_t x = 0; x < out_width; ++x) d[x * o.column] = fill;
      continue;
    }
    const T* s = image + sy * in.row + c * in.channel;
    for (int64_t x = 0; x < x0; ++x) d[x * o.column] = fill;
    for (int64_t x = x0; x < x1; ++x) d[x * o.column] = s[(x + left) * in.column];
    for (int64_t x = x1; x < out_width; ++x) d[x * o.column] = fill;
  }
}

// The affine map from an output pixel (x, y) to its source point:
// (a0 x + a1 y + a2, b0 x + b1 y + b2) in pixel indices (x across, y down),
// the first six entries of Keras' / TensorFlow's projective transforms.
struct AffineMap {
  double a0, a1, a2, b0, b1, b2;
};

// Output row y of the image warped by `map`. The row goes in chunks: first
// every pixel's taps (where it reads, with what weights), then each channel
// plane's outputs from them, so that stores run along a plane instead of
// hopping between planes a plane apart.
template <typename T>
void warp_row(const T* image, T* out, ImageStrides in, ImageStrides o, int64_t channels, int64_t height, int64_t width,
              int64_t out_width, int64_t y, const AffineMap& map, Interpolation interpolation, FillMode mode, T fill) {
  constexpr int kChunk = 64;
  enum Kind : uint8_t { kFill, kInside, kBorder };
  Kind kind[kChunk];
  int64_t offset[kChunk];    // the (top-left) tap's element offset
  double weight[4][kChunk];  // bilinear: the four taps' weights
  uint8_t inside[kChunk];    // border pixels: bit k set where tap k is inside
  const bool bilinear = interpolation == Interpolation::bilinear;
  const int64_t tap_offset[4] = {0, in.column, in.row, in.row + in.column};
  T* dst_row = out + y * o.row;
  for (int64_t start = 0; start < out_width; start += kChunk) {
    const int count = static_cast<int>(out_width - start < kChunk ? out_width - start : kChunk);
    for (int i = 0; i < count; ++i) {
      const int64_t x = start + i;
      const double sx = fill_coordinate(map.a0 * x + map.a1 * y + map.a2, width, mode);
      const double sy = fill_coordinate(map.b0 * x + map.b1 * y + map.b2, height, mode);
      if (!bilinear) {
        const double rx = round_even(sx), ry = round_even(sy);
        const bool in_image = rx >= 0 && rx <= width - 1 && ry >= 0 && ry <= height - 1;
        kind[i] = in_image ? kInside : kFill;
        if (in_image) offset[i] = static_cast<int64_t>(ry) * in.row + static_cast<int64_t>(rx) * in.column;
        continue;
      }
      // A point outside (-1, size) on either axis reads only the fill value
      // (only the constant mode leaves points outside).
      if (!(sx > -1 && sx < width && sy > -1 && sy < height)) {
        kind[i] = kFill;
        continue;
      }
      const double fx = floor_of(sx), fy = floor_of(sy);
      const double wx = sx - fx, wy = sy - fy;
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < width, in_y0 = y0 >= 0, in_y1 = y0 + 1 < height;
      weight[0][i] = (1 - wx) * (1 - wy);
      weight[1][i] = wx * (1 - wy);
      weight[2][i] = (1 - wx) * wy;
      weight[3][i] = wx * wy;
      offset[i] = y0 * in.row + x0 * in.column;
      inside[i] = uint8_t((in_y0 && in_x0) | (in_y0 && in_x1) << 1 | (in_y1 && in_x0) << 2 | (in_y1 && in_x1) << 3);
      kind[i] = inside[i] == 15 ? kInside : kBorder;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const T* plane = image + c * in.channel;
      T* d = dst_row + c * o.channel + start * o.column;
      for (int i = 0; i < count; ++i) {
        T& result = d[i * o.column];
        if (kind[i] == kFill) {
          result = fill;
        } else if (!bilinear) {
          result = plane[offset[i]];
        } else if (kind[i] == kInside) {
          const T* p = plane + offset[i];
          result = static_cast<T>(weight[0][i] * double(p[0]) + weight[1][i] * double(p[tap_offset[1]]) +
                                  weight[2][i] * double(p[tap_offset[2]]) + weight[3][i] * double(p[tap_offset[3]]));
        } else {
          // Border taps outside the image read the fill value (never the
          // memory there, which may not belong to the image).
          double v[4];
          for (int k = 0; k < 4; ++k)
            v[k] = inside[i] >> k & 1 ? double(plane[offset[i] + tap_offset[k]]) : double(fill);
          result =
              static_cast<T>(weight[0][i] * v[0] + weight[1][i] * v[1] + weight[2][i] * v[2] + weight[3][i] * v[3]);
        }
      }
    }
  }
}

// Output row y of (x - mean[c]) * contrast + mean[c] + brightness, clipped to
// [low, high] when `clip`; mean holds the image's per-channel means.
template <typename T>
void adjust_row(const T* image, T* out, ImageStrides in, ImageStrides o, int64_t channels, int64_t width, int64_t y,
                const double* mean, double contrast, double brightness, bool clip, double low, double high) {
  for (int64_t c = 0; c < channels; ++c) {
    const T* s = image + y * in.row + c * in.channel;
    T* d = out + y * o.row + c * o.channel;
    const double shift = mean[c] * (1 - contrast) + brightness;
    for (int64_t x = 0; x < width; ++x) {
      double v = double(s[x * in.column]) * contrast + shift;
      if (clip) v = v < low ? low : (v > high ? high : v);
      d[x * o.column] = static_cast<T>(v);
    }
  }
}

}  // namespace fastcnn
