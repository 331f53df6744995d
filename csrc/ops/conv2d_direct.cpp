// Direct convolution forward for few input channels: each task pads the
// input rows of one band of output rows of one image (zero border plus
// vector slack) and runs the register-blocked kernel of
// kernels/direct/conv2d_direct_impl.h over them. Weights are packed once per call so that one tap's
// weights for a block of output channels are contiguous.
#include <algorithm>
#include <cstring>

#include "packed_weights.h"
#include "conv2d.h"
#include "cpu.h"
#include "parallel.h"
#include "workspace.h"

namespace fastcnn {

bool direct_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1;
}

// With K = C_in * KH * KW below ~100 the GEMM's C tile traffic and B packing
// outweigh its FMAs; from 8 input channels on the GEMM wins.
bool prefers_direct(const Conv2dParams& p) { return p.in_channels <= 4; }

template <typename T>
void conv2d_forward_direct(const Conv2dParams& p, const T* x, const T* w, const T* bias, T* out) {
  const DirectKernels<T>& kern = active_kernels().get<T>().direct;
  const int cob = kern.co_block;
  const int64_t taps = p.in_channels * p.kernel_h * p.kernel_w;
  const int64_t blocks = ceil_div(p.out_channels, cob);

  PackedWeights<T> w_packed(PackSite::direct_columns, {p.out_channels, taps, cob}, blocks * taps * cob);
  if (!w_packed.ready()) {
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t tap = 0; tap < taps; ++tap)
        for (int c = 0; c < cob; ++c) {
          const int64_t co = b * cob + c;
          w_packed.data()[(b * taps + tap) * cob + c] = co < p.out_channels ? w[co * taps + tap] : T(0);
        }
    w_packed.packed();
  }

  DirectConv d;
  d.in_channels = p.in_channels;
  d.kernel_h = p.kernel_h;
  d.kernel_w = p.kernel_w;
  d.out_h = p.out_h;
  d.out_w = p.out_w;
  d.out_pixel = p.channels_last ? p.out_channels : 1;
  d.pad_h = p.in_h + p.pad_top + p.pad_bottom;
  // Whole register blocks of `width` columns read up to round_up(out_w, width) + kw - 1.
  d.pad_w = std::max(p.in_w + p.pad_left + p.pad_right, round_up(p.out_w, kern.width) + p.kernel_w - 1);
  // Tasks are (image, band of output rows); each pads only the input rows
  // its band reads, so the scratch per thread stays about 256 KiB whatever
  // the image size (and bands are small enough to keep every thread busy).
  const int64_t row_bytes = p.in_channels * d.pad_w * int64_t(sizeof(T));
  const int64_t budget_rows = std::max<int64_t>(1, (int64_t{256} << 10) / row_bytes - (p.kernel_h - 1));
  int64_t bands = ceil_div(p.out_h, budget_rows);
  const int64_t threads_wanted = num_threads();
  if (p.batch * bands < 2 * threads_wanted)
    bands = std::min(p.out_h, std::max(bands, ceil_div(2 * threads_wanted, p.batch)));
  const int64_t band_rows = ceil_div(p.out_h, bands);
  const int64_t padded_elements = round_up(p.in_channels * (band_rows + p.kernel_h - 1) * d.pad_w, 16);
  const int64_t tasks = p.batch * bands;
  const int threads = threads_for(tasks);
  Workspace<T> scratch(threads * padded_elements);

  parallel_for_stealing(tasks, threads, Denormals::flush, [&](int64_t begin, int64_t end, int thread) {
    T* padded = scratch.slot(thread, padded_elements);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / bands, band = task % bands;
      const int64_t r0 = std::min(p.out_h, band * band_rows), r1 = std::min(p.out_h, r0 + band_rows);
      if (r0 >= r1) continue;
      DirectConv local = d;
      local.pad_h = r1 - r0 + p.kernel_h - 1;  // input rows r0 - pad_top .. of this band
      std::memset(padded, 0, sizeof(T) * p.in_channels * local.pad_h * d.pad_w);
      const T* image = x + n * p.in_channels * p.in_h * p.in_w;
      for (int64_t ci = 0; ci < p.in_channels; ++ci)
        for (int64_t r = 0; r < local.pad_h; ++r) {
          const int64_t y = r0 + r - p.pad_top;
          if (y < 0 || y >= p.in_h) continue;
          T* to = padded + (ci * local.pad_h + r) * d.pad_w + p.pad_left;
          if (p.channels_last) {  // one channel of a row of pixels
            const T* from = image + y * p.in_w * p.in_channels + ci;
            for (int64_t i = 0; i < p.in_w; ++i) to[i] = from[i * p.in_channels];
          } else {
            std::memcpy(to, image + (ci * p.in_h + y) * p.in_w, sizeof(T) * p.in_w);
          }
        }
      kern.rows(local, padded, w_packed.data(), bias,
                out + n * p.out_channels * p.out_h * p.out_w + r0 * p.out_w * d.out_pixel, 0, p.out_channels, 0,
                r1 - r0);
    }
  });
}

template void conv2d_forward_direct<float>(const Conv2dParams&, const float*, const float*, const float*, float*);
template void conv2d_forward_direct<double>(const Conv2dParams&, const double*, const double*, const double*, double*);

}  // namespace fastcnn
