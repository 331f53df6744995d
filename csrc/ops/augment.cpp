#include "augment.h"

#include <vector>

#include "grain.h"
#include "parallel.h"

namespace fastcnn {
namespace {

// Relative cost of a warped pixel against a copied one (the coordinate map
// and four reads per channel), for the grain.
constexpr int64_t kWarpCostPerByte = 4;

// Runs row(n, y) for every output row of the batch, over the pool's threads
// when the batch is big enough to pay for them.
template <class Row>
void for_each_row(int64_t batch, int64_t out_h, int64_t bytes, Row&& row) {
  SerialBelowGrain serial(OpFamily::elementwise, bytes);
  parallel_for_stealing(batch * out_h, threads_for(batch * out_h), Denormals::keep,
                        [&](int64_t begin, int64_t end, int) {
                          for (int64_t r = begin; r < end; ++r) row(r / out_h, r % out_h);
                        });
}

}  // namespace

template <typename T>
void flip_images(const ImageBatch& b, const T* x, const uint8_t* flags, T* out) {
  const ImageStrides s = b.strides(b.height, b.width);
  const int64_t image = b.channels * b.height * b.width;
  for_each_row(b.batch, b.height, 2 * b.batch * image * int64_t(sizeof(T)), [&](int64_t n, int64_t y) {
    flip_row(x + n * image, out + n * image, s, s, b.channels, b.height, b.width, y, flags[n] & 1, flags[n] & 2);
  });
}

template <typename T>
void crop_images(const ImageBatch& b, const T* x, const int64_t* corners, int64_t out_h, int64_t out_w, T fill,
                 T* out) {
  const ImageStrides in = b.strides(b.height, b.width), o = b.strides(out_h, out_w);
  const int64_t image = b.channels * b.height * b.width, out_image = b.channels * out_h * out_w;
  for_each_row(b.batch, out_h, 2 * b.batch * out_image * int64_t(sizeof(T)), [&](int64_t n, int64_t y) {
    crop_row(x + n * image, out + n * out_image, in, o, b.channels, b.height, b.width, out_w, y, corners[2 * n],
             corners[2 * n + 1], fill);
  });
}

template <typename T>
void warp_images(const ImageBatch& b, const T* x, const double* maps, int64_t out_h, int64_t out_w,
                 Interpolation interpolation, FillMode mode, T fill, T* out) {
  const ImageStrides in = b.strides(b.height, b.width), o = b.strides(out_h, out_w);
  const int64_t image = b.channels * b.height * b.width, out_image = b.channels * out_h * out_w;
  const int64_t bytes = kWarpCostPerByte * 2 * b.batch * out_image * int64_t(sizeof(T));
  for_each_row(b.batch, out_h, bytes, [&](int64_t n, int64_t y) {
    const double* m = maps + 6 * n;
    const AffineMap map{m[0], m[1], m[2], m[3], m[4], m[5]};
    warp_row(x + n * image, out + n * out_image, in, o, b.channels, b.height, b.width, out_w, y, map, interpolation,
             mode, fill);
  });
}

template <typename T>
void adjust_images(const ImageBatch& b, const T* x, const double* contrast, const double* brightness, bool clip,
                   double low, double high, T* out) {
  const ImageStrides s = b.strides(b.height, b.width);
  const int64_t image = b.channels * b.height * b.width;
  const int64_t bytes = 2 * b.batch * image * int64_t(sizeof(T));
  // Per-image channel means, only where the contrast changes (summed in
  // double, in a fixed order: the same means on any thread count).
  std::vector<double> means(b.batch * b.channels, 0.0);
  {
    SerialBelowGrain serial(OpFamily::elementwise, bytes / 2);
    parallel_for(b.batch * b.channels, threads_for(b.batch * b.channels), Denormals::keep,
                 [&](int64_t begin, int64_t end, int) {
                   for (int64_t i = begin; i < end; ++i) {
                     const int64_t n = i / b.channels, c = i % b.channels;
                     if (contrast[n] == 1.0) continue;
                     const T* p = x + n * image + c * s.channel;
                     double sum = 0;
                     for (int64_t y = 0; y < b.height; ++y)
                       for (int64_t col = 0; col < b.width; ++col) sum += double(p[y * s.row + col * s.column]);
                     means[i] = b.height * b.width ? sum / double(b.height * b.width) : 0.0;
                   }
                 });
  }
  for_each_row(b.batch, b.height, bytes, [&](int64_t n, int64_t y) {
    adjust_row(x + n * image, out + n * image, s, s, b.channels, b.width, y, means.data() + n * b.channels, contrast[n],
               brightness[n], clip, low, high);
  });
}

#define FASTCNN_AUGMENT(T)                                                                                            \
  template void flip_images<T>(const ImageBatch&, const T*, const uint8_t*, T*);                                      \
  template void crop_images<T>(const ImageBatch&, const T*, const int64_t*, int64_t, int64_t, T, T*);                 \
  template void warp_images<T>(const ImageBatch&, const T*, const double*, int64_t, int64_t, Interpolation, FillMode, \
                               T, T*);                                                                                \
  template void adjust_images<T>(const ImageBatch&, const T*, const double*, const double*, bool, double, double, T*);
FASTCNN_AUGMENT(float)
FASTCNN_AUGMENT(double)
#undef FASTCNN_AUGMENT

}  // namespace fastcnn
